import json

import pytest

from migfleet.serving.containers import (
    ContainerParseError, daemon_runtimes, has_nvidia_runtime, label_value, parse_inspect, registry_of,
)

# Trimmed `docker inspect` entry as Docker 20.10 prints it (fields the parser reads, plus neighbours).
INSPECT_ENTRY = {
    "Id": "4f1c0e0b7d6a",
    "Created": "2026-11-23T21:04:05.123456789Z",
    "Path": "tritonserver",
    "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False,
              "OOMKilled": False, "Dead": False, "Pid": 4242, "ExitCode": 0},
    "Name": "/triton-gpu0-gi7",
    "RestartCount": 0,
    "HostConfig": {"NetworkMode": "host", "Runtime": "nvidia",
                   "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}},
    "Config": {"Image": "10.250.0.1:5000/migfleet-lab/tritonserver:lab",
               "Env": ["NVIDIA_VISIBLE_DEVICES=MIG-0a1b"],
               "Labels": {"migfleet.role": "triton", "migfleet.mig_uuid": "MIG-0a1b",
                          "migfleet.config": "0123456789abcdef"}},
}


def test_parse_inspect_reads_name_state_labels():
    exited = dict(INSPECT_ENTRY, Name="/migfleet-envoy", Id="99",
                  State=dict(INSPECT_ENTRY["State"], Status="exited", Running=False),
                  Config={"Image": "envoyproxy/envoy:v1.40-latest", "Labels": None}, RestartCount=3)
    triton, envoy = parse_inspect(json.dumps([INSPECT_ENTRY, exited], indent=4))
    assert triton.name == "triton-gpu0-gi7" and triton.alive and triton.role == "triton"
    assert triton.config_hash == "0123456789abcdef"
    assert envoy.name == "migfleet-envoy" and not envoy.alive and envoy.labels == {}
    assert envoy.restart_count == 3
    assert parse_inspect("[]\n") == []


@pytest.mark.parametrize("text, quoted", [
    ("Error: No such object: abc", "No such object"),
    ('{"Id": "x"}', '{"Id": "x"}'),
    ('[{"Id": "x", "Name": "/a"}]', '"Name": "/a"'),
])
def test_parse_inspect_quotes_unexpected_input(text, quoted):
    with pytest.raises(ContainerParseError) as err:
        parse_inspect(text)
    assert quoted in str(err.value)


def test_duplicate_names_refused():
    with pytest.raises(ContainerParseError, match="duplicate"):
        parse_inspect(json.dumps([INSPECT_ENTRY, INSPECT_ENTRY]))


def test_daemon_json_runtimes():
    written_by_ctk = json.dumps({"insecure-registries": ["10.250.0.1:5000"],
                                 "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}},
                                indent=4)
    assert has_nvidia_runtime(written_by_ctk)
    assert not has_nvidia_runtime('{"storage-driver": "overlay2"}')
    assert not has_nvidia_runtime(None) and not has_nvidia_runtime("")
    assert daemon_runtimes(written_by_ctk)["nvidia"]["path"] == "nvidia-container-runtime"
    with pytest.raises(ContainerParseError, match="storage-driver"):
        has_nvidia_runtime('{"storage-driver": overlay2}')
    with pytest.raises(ContainerParseError, match="runtimes"):
        has_nvidia_runtime('{"runtimes": ["nvidia"]}')


@pytest.mark.parametrize("image, registry", [
    ("nvcr.io/nvidia/tritonserver:25.10-py3", "nvcr.io"),
    ("10.250.0.1:5000/migfleet-lab/envoy:lab", "10.250.0.1:5000"),
    ("envoyproxy/envoy:v1.40-latest", "docker.io"),
    ("busybox", "docker.io"),
    ("localhost/img:1", "localhost"),
])
def test_registry_of(image, registry):
    assert registry_of(image) == registry


def test_label_value():
    args = ("-d", "--label", "a=1", "--label", "migfleet.config=abc=def", "img")
    assert label_value(args, "migfleet.config") == "abc=def"
    with pytest.raises(KeyError):
        label_value(args, "missing")
