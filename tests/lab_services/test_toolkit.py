"""The simulated toolkit's spec editing, argument parsing, nvidia-ctk and the packages (fast, no lab)."""
import json
import subprocess

import pytest

from lab.toolkit import ctk, deb
from lab.toolkit.spec import (DEVICE_ENV, DEVICE_FILE, DeviceError, edit_spec, parse_runtime_args,
                              requested_devices)

KNOWN = {"MIG-0929581a-2be6-5dec-bf34-0954c6c529a6": "MIG-0929581a-2be6-5dec-bf34-0954c6c529a6",
         "MIG-3adbed3a-d03d-549f-a016-ba1fd7359f23": "MIG-3adbed3a-d03d-549f-a016-ba1fd7359f23",
         "0:1": "MIG-3adbed3a-d03d-549f-a016-ba1fd7359f23"}
HOOK = "/usr/bin/nvidia-container-runtime-hook"


def spec_with(env, args=("/usr/local/bin/tritonserver", "--model-repository=/models")):
    return {"ociVersion": "1.0.2", "process": {"args": list(args), "env": list(env)},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "hooks": {"prestart": [{"path": "/usr/bin/other-hook"}]}}


def edit(spec):
    return edit_spec(spec, KNOWN.get, HOOK, ["PATH=/usr/bin:/bin"], "/bundle/nvidia-mig-device")


@pytest.mark.parametrize("env", [[], ["PATH=/bin"], ["NVIDIA_VISIBLE_DEVICES="], ["NVIDIA_VISIBLE_DEVICES=void"],
                                 ["NVIDIA_VISIBLE_DEVICES=none"], ["NVIDIA_VISIBLE_DEVICES=all"],
                                 ["NVIDIA_VISIBLE_DEVICES=MIG-unknown", "NVIDIA_VISIBLE_DEVICES=none"]])
def test_no_device_leaves_spec_unchanged(env):
    spec = spec_with(env)
    out, ids = edit(spec)
    assert ids == [] and out == spec


def test_known_mig_uuid_gets_file_env_and_hook():
    uuid = "MIG-0929581a-2be6-5dec-bf34-0954c6c529a6"
    spec = spec_with(["PATH=/bin", f"NVIDIA_VISIBLE_DEVICES={uuid}"])
    before = json.dumps(spec, sort_keys=True)
    out, ids = edit(spec)
    assert json.dumps(spec, sort_keys=True) == before, "input spec was modified"
    assert ids == [uuid]
    assert f"{DEVICE_ENV}={uuid}" in out["process"]["env"]
    assert out["mounts"][-1]["destination"] == DEVICE_FILE
    assert out["mounts"][-1]["source"] == "/bundle/nvidia-mig-device"
    assert out["mounts"][:-1] == spec["mounts"]
    hook = out["hooks"]["prestart"][-1]
    assert out["hooks"]["prestart"][0] == {"path": "/usr/bin/other-hook"}
    assert hook["path"] == HOOK
    assert hook["args"] == ["nvidia-container-runtime-hook", "prestart", "--name", "tritonserver",
                            "--device", uuid]
    assert hook["env"] == ["PATH=/usr/bin:/bin"]


def test_index_form_resolves_through_lookup_and_duplicates_collapse():
    uuid = KNOWN["0:1"]
    out, ids = edit(spec_with([f"NVIDIA_VISIBLE_DEVICES=0:1, {uuid}"]))
    assert ids == [uuid]
    assert f"{DEVICE_ENV}={uuid}" in out["process"]["env"]


def test_unknown_uuid_refused_in_toolkit_words():
    with pytest.raises(DeviceError) as err:
        edit(spec_with(["NVIDIA_VISIBLE_DEVICES=MIG-0929581a-2be6-5dec-bf34-0954c6c529a6,MIG-ffff"]))
    assert str(err.value) == "nvidia-container-cli: device error: MIG-ffff: unknown device"


def test_hook_not_added_twice_when_docker_gpus_added_it():
    spec = spec_with(["NVIDIA_VISIBLE_DEVICES=0:1"])
    spec["hooks"]["prestart"].append({"path": "/usr/bin/nvidia-container-runtime-hook", "args": ["x", "prestart"]})
    out, _ = edit(spec)
    assert [h["path"] for h in out["hooks"]["prestart"]].count(HOOK) == 1


def test_requested_devices_last_definition_wins():
    assert requested_devices(spec_with(["NVIDIA_VISIBLE_DEVICES=none", "NVIDIA_VISIBLE_DEVICES=0,1"])) == ["0", "1"]


@pytest.mark.parametrize("argv,expected", [
    (["--root", "/r", "--log", "/l.json", "--log-format", "json", "create", "--bundle", "/b", "--pid-file",
      "/p", "cid"], ("create", "/b", "/l.json")),
    (["--log=/l", "--systemd-cgroup", "create", "-b", "/b2", "cid"], ("create", "/b2", "/l")),
    (["create", "--bundle=/b3", "cid"], ("create", "/b3", None)),
    (["--root", "/r", "start", "cid"], ("start", None, None)),
    (["--version"], (None, None, None)),
])
def test_parse_runtime_args(argv, expected):
    assert parse_runtime_args(argv) == expected


def test_configure_docker_keeps_keys_and_is_idempotent():
    current = {"insecure-registries": ["10.250.0.1:5000"], "runtimes": {"other": {"path": "/x"}}}
    once = ctk.configure_docker(current, set_as_default=False)
    assert once["insecure-registries"] == ["10.250.0.1:5000"]
    assert once["runtimes"] == {"other": {"path": "/x"},
                                "nvidia": {"args": [], "path": "nvidia-container-runtime"}}
    assert "default-runtime" not in once
    assert ctk.configure_docker(once, set_as_default=False) == once
    assert ctk.configure_docker(once, set_as_default=True)["default-runtime"] == "nvidia"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The two packages unpacked into a private root."""
    tmp = tmp_path_factory.mktemp("toolkit")
    debs = deb.build_debs(tmp / "debs")
    root = tmp / "root"
    for package in debs:
        subprocess.run(["dpkg-deb", "-x", str(package), str(root)], check=True)
    return root, debs


def test_packages_have_real_names_and_dependency(installed):
    _, debs = installed
    fields = {}
    for package in debs:
        out = subprocess.run(["dpkg-deb", "-f", str(package), "Package", "Version", "Depends"],
                             check=True, capture_output=True, text=True).stdout
        fields[package.name] = out
    base, toolkit = (fields[d.name] for d in debs)
    assert "Package: nvidia-container-toolkit-base" in base
    assert "Package: nvidia-container-toolkit\n" in toolkit
    assert f"nvidia-container-toolkit-base (= {deb.DEB_VERSION})" in toolkit


def test_nvidia_ctk_cli_configures_daemon_json(installed):
    root, _ = installed
    daemon = root / "etc/docker/daemon.json"
    daemon.parent.mkdir(parents=True, exist_ok=True)
    daemon.write_text(json.dumps({"storage-driver": "overlay2"}))
    nvidia_ctk = str(root / "usr/bin/nvidia-ctk")
    version = subprocess.run([nvidia_ctk, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith(f"NVIDIA Container Toolkit CLI version {ctk.VERSION}")
    for _ in range(2):
        done = subprocess.run([nvidia_ctk, "runtime", "configure", "--runtime=docker", f"--config={daemon}"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert f"Wrote updated config to {daemon}" in done.stderr
        first = daemon.read_text() if _ == 0 else first
    assert daemon.read_text() == first
    assert json.loads(first) == {"storage-driver": "overlay2",
                                 "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}
    bad = subprocess.run([nvidia_ctk, "runtime", "configure", "--runtime=podman", f"--config={daemon}"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "podman" in bad.stderr


def test_runtime_refuses_unknown_device_before_runc(installed, tmp_path):
    """The installed runtime, with a fake nvsim-ctl, on a bundle: refusal goes to stderr and the JSON log."""
    root, _ = installed
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvsim-ctl").write_text("#!/bin/sh\n[ \"$1\" = lookup-mig ] && [ \"$2\" = MIG-known ] && exit 0\nexit 1\n")
    (bindir / "nvsim-ctl").chmod(0o755)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    spec = spec_with(["NVIDIA_VISIBLE_DEVICES=MIG-nope"])
    (bundle / "config.json").write_text(json.dumps(spec))
    log = tmp_path / "log.json"
    env = {"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin"}
    done = subprocess.run([str(root / "usr/bin/nvidia-container-runtime"), "--log", str(log), "--log-format",
                           "json", "create", "--bundle", str(bundle), "cid"], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 1
    assert "nvidia-container-cli: device error: MIG-nope: unknown device" in done.stderr
    assert json.loads(log.read_text().splitlines()[-1])["msg"].endswith("MIG-nope: unknown device")
    assert json.loads((bundle / "config.json").read_text()) == spec


def test_lookup_through_nvsim_ctl_forms(tmp_path, monkeypatch):
    """MIG UUIDs via `lookup-mig` (JSON on exit 0), whole GPUs via `show`; anything else unknown."""
    from lab.toolkit import devices

    mig, gpu = "MIG-0929581a-2be6-5dec-bf34-0954c6c529a6", "GPU-932bfb2c-849a-2a22-1e84-9eff6bc02b39"
    fake = tmp_path / "nvsim-ctl"
    fake.write_text(f"""#!/bin/sh
case "$1" in
    lookup-mig) [ "$2" = {mig} ] && {{ echo '{{"uuid": "{mig}", "gpu_index": 0}}'; exit 0; }}; exit 1 ;;
    show) echo '{{"gpus": [{{"index": 0, "uuid": "{gpu}"}}], "processes": []}}' ;;
    *) exit 2 ;;
esac
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert devices.lookup(mig) == mig
    assert devices.lookup("MIG-ffffffff-0000-0000-0000-000000000000") is None
    assert devices.lookup(gpu) == gpu
    assert devices.lookup("0") == gpu
    assert devices.lookup("1") is None
    assert devices.lookup("0:1") is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(devices.ToolkitError, match="driver not loaded"):
        devices.lookup(mig)
