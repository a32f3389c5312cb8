"""The serving operations, facts in and commands out, each with its already-converged case."""
import hashlib

from pyinfra.api import FileUploadCommand, FunctionCommand

from migfleet.serving import envoy
from migfleet.serving import triton
from migfleet.serving.containers import Container
from migfleet.operations import serving

from .conftest import a100, commands_of, host_gpus, running_from

GPUS = host_gpus(a100(0, [(7 + n, "1g.5gb", n) for n in range(7)]), a100(1, [(1, "3g.20gb", 4)]))


def test_tritons_fresh_host_runs_all_then_waits(settings):
    commands, noops = commands_of(serving.tritons, settings, "m1",
                                  facts={"MigSnapshot": GPUS, "ServingContainers": []})
    assert noops == []
    runs = [c for c in commands if c.startswith("docker run")]
    assert len(runs) == 8
    assert "--name triton-gpu1-gi1" in runs[-1]
    assert commands[-1].startswith("deadline=") and "triton-gpu1-gi1:21400" in commands[-1]
    assert str(settings["triton_ready_timeout"]) in commands[-1]


def test_tritons_already_converged(settings):
    running = [running_from(s) for s in triton.desired_tritons(GPUS, settings, "m1")]
    commands, noops = commands_of(serving.tritons, settings, "m1",
                                  facts={"MigSnapshot": GPUS, "ServingContainers": running})
    assert commands == []
    assert noops == ["8 Triton container(s) up to date"]


def test_tritons_remove_before_start_and_wait_only_for_started(settings):
    running = [running_from(s) for s in triton.desired_tritons(GPUS, settings, "m1")]
    after = dict(GPUS)
    after[a100(1, []).uuid] = a100(1, [(2, "3g.20gb", 0)])
    commands, _ = commands_of(serving.tritons, settings, "m1",
                              facts={"MigSnapshot": after, "ServingContainers": running})
    assert commands[0] == "docker rm -f triton-gpu1-gi1"
    assert commands[1].startswith("docker run -d --name triton-gpu1-gi2 ")
    assert len(commands) == 3 and "'triton-gpu1-gi2:21000'" in commands[2]


def test_remove_gpu_tritons(settings):
    running = [running_from(s) for s in triton.desired_tritons(GPUS, settings)]
    gpu1 = a100(1, []).uuid
    commands, _ = commands_of(serving.remove_gpu_tritons, [gpu1], facts={"ServingContainers": running})
    assert commands == ["docker rm -f triton-gpu1-gi1"]
    commands, noops = commands_of(serving.remove_gpu_tritons, [gpu1],
                                  facts={"ServingContainers": running[:7]})
    assert commands == [] and noops


def test_envoy_config_validates_before_replacing(settings):
    specs = triton.desired_tritons(GPUS, settings)
    text = envoy.config_text(specs, settings)
    commands, _ = commands_of(serving.envoy_config, settings,
                              facts={"MigSnapshot": GPUS, "Sha1File": None})
    upload = next(c for c in commands if isinstance(c, FileUploadCommand))
    assert upload.dest == "/etc/migfleet/envoy/envoy.yaml.new"
    assert upload.src.getvalue() == text
    strings = [c for c in commands if isinstance(c, str)]
    validate_at = strings.index(envoy.validate_command(settings, "/etc/migfleet/envoy/envoy.yaml.new"))
    move_at = strings.index("mv -f /etc/migfleet/envoy/envoy.yaml.new /etc/migfleet/envoy/envoy.yaml")
    assert validate_at < move_at == len(strings) - 1


def test_envoy_config_already_converged(settings):
    text = envoy.config_text(triton.desired_tritons(GPUS, settings), settings)
    commands, noops = commands_of(serving.envoy_config, settings, facts={
        "MigSnapshot": GPUS, "Sha1File": hashlib.sha1(text.encode()).hexdigest()})
    assert commands == [] and noops == ["/etc/migfleet/envoy/envoy.yaml up to date"]


def _envoy_container(args, status="running"):
    labels = {args[i + 1].split("=", 1)[0]: args[i + 1].split("=", 1)[1]
              for i, a in enumerate(args) if a == "--label"}
    return Container(envoy.CONTAINER_NAME, "e1", args[args.index("-c") - 1], status, labels)


def test_envoy_container_converged_and_changed(settings):
    current = _envoy_container(envoy.container_args(settings))
    commands, noops = commands_of(serving.envoy_container, settings,
                                  facts={"MigSnapshot": GPUS, "ServingContainers": [current]})
    assert commands == [] and noops == ["migfleet-envoy up to date"]

    # other Tritons change the config, not the container: envoy_restart reloads it
    fewer = {k: v for k, v in GPUS.items() if v.index == 0}
    commands, noops = commands_of(serving.envoy_container, settings,
                                  facts={"MigSnapshot": fewer, "ServingContainers": [current]})
    assert commands == [] and noops == ["migfleet-envoy up to date"]

    other_image = _envoy_container(envoy.container_args(dict(settings, envoy_image="envoy:old")))
    commands, _ = commands_of(serving.envoy_container, settings,
                              facts={"MigSnapshot": GPUS, "ServingContainers": [other_image]})
    assert commands[0] == "docker rm -f migfleet-envoy"
    assert commands[1].startswith("docker run -d --name migfleet-envoy --network host")
    assert "http://127.0.0.1:9901/ready" in commands[2]

    commands, _ = commands_of(serving.envoy_container, settings,
                              facts={"MigSnapshot": GPUS, "ServingContainers": []})
    assert commands[0].startswith("docker run -d --name migfleet-envoy")


def test_nvidia_runtime(settings):
    configured = ['{', '  "runtimes": {', '    "nvidia": {"args": [], "path": "nvidia-container-runtime"}',
                  '  }', '}']
    commands, noops = commands_of(serving.nvidia_runtime, "/etc/docker/daemon.json",
                                  facts={"FileContents": configured})
    assert commands == [] and noops
    for current in (None, ['{"insecure-registries": ["10.250.0.1:5000"]}']):
        commands, _ = commands_of(serving.nvidia_runtime, "/etc/docker/daemon.json",
                                  facts={"FileContents": current})
        assert commands == ["nvidia-ctk runtime configure --runtime=docker --config=/etc/docker/daemon.json"]


def test_docker_engine_and_packages(settings):
    commands, noops = commands_of(serving.docker_engine, "docker.io", facts={"Which": "/usr/bin/docker"})
    assert commands == [] and noops == ["docker present at /usr/bin/docker"]
    commands, _ = commands_of(serving.docker_engine, "docker.io", facts={"Which": None, "DebPackages": {}})
    assert commands == ["DEBIAN_FRONTEND=noninteractive apt-get update -q",
                        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io"]
    installed = {"nvidia-container-toolkit": ["1.17.7-1"], "curl": ["7.88.1-10"]}
    commands, _ = commands_of(serving.packages_present, ["curl", "nvidia-container-toolkit=1.17.8-1"],
                              facts={"DebPackages": installed})
    assert commands[-1].endswith("install -y -q nvidia-container-toolkit=1.17.8-1")
    installed["nvidia-container-toolkit"].append("1.17.8-1")
    commands, noops = commands_of(serving.packages_present, ["curl", "nvidia-container-toolkit=1.17.8-1"],
                                  facts={"DebPackages": installed})
    assert commands == [] and noops


def test_keyring_and_source_line(settings):
    keyring = settings["toolkit_keyring"]
    commands, noops = commands_of(serving.apt_keyring, "http://10.250.0.1:8081/gpgkey", keyring,
                                  facts={"File": {"mode": 644, "size": 1200}})
    assert commands == [] and noops
    commands, _ = commands_of(serving.apt_keyring, "http://10.250.0.1:8081/gpgkey", keyring,
                              facts={"File": None})
    assert "curl -fsSL http://10.250.0.1:8081/gpgkey | gpg --batch --yes --dearmor" in commands[0]
    assert commands[0].endswith(f"mv -f {keyring}.tmp {keyring}")
    assert serving.toolkit_source_line("http://10.250.0.1:8081/", keyring) == \
        f"deb [signed-by={keyring}] http://10.250.0.1:8081/ /\n"
    assert serving.toolkit_source_line(settings["toolkit_repo_url"], keyring).startswith(
        "deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] "
        "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /")


class _LoginHost:
    print_prefix = "[login] "

    def __init__(self):
        self.calls = []

    def run_shell_command(self, command, **kwargs):
        self.calls.append((str(command), kwargs))
        return True, None


def test_image_present_logs_in_with_key_on_stdin_only(settings, monkeypatch):
    image = settings["triton_image"]
    commands, noops = commands_of(serving.image_present, image, "$oauthtoken", "NGC_API_KEY",
                                  facts={"DockerImageId": "sha256:abc"})
    assert commands == [] and noops == [f"image {image} present"]

    monkeypatch.delenv("NGC_API_KEY", raising=False)
    commands, _ = commands_of(serving.image_present, image, "$oauthtoken", "NGC_API_KEY",
                              facts={"DockerImageId": None})
    assert commands == [f"docker pull {image}"]

    secret = "nvapi-test-secret-0123456789"
    monkeypatch.setenv("NGC_API_KEY", secret)
    commands, _ = commands_of(serving.image_present, image, "$oauthtoken", "NGC_API_KEY",
                              facts={"DockerImageId": None})
    login, pull = commands
    assert isinstance(login, FunctionCommand) and pull == f"docker pull {image}"
    assert secret not in repr(login)
    host = _LoginHost()
    assert login.function(None, host, *login.args, **login.kwargs) is True
    [(command, kwargs)] = host.calls
    assert command == "docker login nvcr.io -u '$oauthtoken' --password-stdin"
    assert kwargs["_stdin"] == secret and secret not in command
