"""Pure parsers of Docker output: `docker inspect` of containers, daemon.json, client config.

No pyinfra here; facts in migfleet.operations.serving call these.
"""
from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from typing import Mapping, Sequence

LABEL_ROLE = "migfleet.role"            # "triton" | "envoy"
# A Triton's role label (serving.triton.ROLE). Here, with the label, so that the host read's parser
# (facts.read, which the host runs) needs no import of the Triton planning code.
TRITON_ROLE = "triton"
LABEL_CONFIG = "migfleet.config"        # hash of the arguments the container was started with
LABEL_MIG_UUID = "migfleet.mig_uuid"
LABEL_GPU_UUID = "migfleet.gpu_uuid"
LABEL_PLACE = "migfleet.place"           # "<GPU UUID>/<GI start>/<CI start>" of a Triton's MIG device

# Fact command: every container carrying the role label, as one JSON array ("[]" when none).
INSPECT_COMMAND = (
    f"ids=$(docker ps -aq --filter label={LABEL_ROLE}); "
    'if [ -n "$ids" ]; then docker inspect $ids; else echo "[]"; fi'
)


class ContainerParseError(ValueError):
    pass


@dataclass(frozen=True)
class Container:
    name: str                     # without docker's leading "/"
    id: str
    image: str                    # as given to docker run (Config.Image)
    status: str                   # created | running | restarting | paused | exited | dead
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_count: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    network_mode: str = ""
    pid: int = 0                  # its main process on the host (0 when not running)

    @property
    def role(self) -> str | None:
        return self.labels.get(LABEL_ROLE)

    @property
    def config_hash(self) -> str | None:
        return self.labels.get(LABEL_CONFIG)

    @property
    def alive(self) -> bool:
        return self.status in ("running", "restarting")


def _excerpt(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def parse_inspect(text: str) -> list[Container]:
    """Containers from `docker inspect` JSON (an array of objects)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ContainerParseError(f"docker inspect output is not JSON ({e}): {_excerpt(text)!r}") from None
    if not isinstance(data, list):
        raise ContainerParseError(f"docker inspect output is not a JSON array: {_excerpt(text)!r}")
    containers = []
    for item in data:
        try:
            state = item["State"]
            config = item["Config"]
            containers.append(Container(
                name=item["Name"].lstrip("/"),
                id=item["Id"],
                image=config["Image"],
                status=state["Status"],
                labels=dict(config.get("Labels") or {}),
                restart_count=int(item.get("RestartCount", 0)),
                env=dict(e.split("=", 1) if "=" in e else (e, "") for e in config.get("Env") or []),
                network_mode=(item.get("HostConfig") or {}).get("NetworkMode", ""),
                pid=int(state.get("Pid") or 0),
            ))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ContainerParseError(
                f"docker inspect entry lacks {e}: {_excerpt(json.dumps(item))!r}") from None
    names = [c.name for c in containers]
    if len(set(names)) != len(names):
        raise ContainerParseError(f"duplicate container names in docker inspect output: {names}")
    return containers


def _load_json_object(text: str, what: str) -> dict:
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ContainerParseError(f"{what} is not valid JSON ({e}): {_excerpt(text)!r}") from None
    if not isinstance(data, dict):
        raise ContainerParseError(f"{what} is not a JSON object: {_excerpt(text)!r}")
    return data


def daemon_runtimes(text: str | None) -> dict[str, dict]:
    """OCI runtimes registered in Docker's daemon.json (empty file or no file: none)."""
    data = _load_json_object(text or "", "Docker daemon configuration")
    runtimes = data.get("runtimes", {})
    if not isinstance(runtimes, dict):
        raise ContainerParseError(f"daemon.json 'runtimes' is not an object: {runtimes!r}")
    return runtimes


def has_nvidia_runtime(daemon_json: str | None) -> bool:
    return "nvidia" in daemon_runtimes(daemon_json)


def registry_of(image: str) -> str:
    """Registry host of an image reference ("docker.io" for Docker Hub short names)."""
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def config_hash(args: Sequence[str], *inputs: str) -> str:
    """The one container config hash: its `docker run` arguments plus what it reads that they do not
    show (a Triton's model repository digest, Envoy's bootstrap digest). A container whose hash
    label differs from the wanted one is replaced."""
    return hashlib.sha256("\0".join([*args, *inputs]).encode()).hexdigest()[:16]


def label_value(run_args: Sequence[str], key: str) -> str:
    """Value of a `--label key=value` pair in a `docker run` argument list."""
    for flag, value in zip(run_args, run_args[1:]):
        if flag == "--label" and value.startswith(key + "="):
            return value.split("=", 1)[1]
    raise KeyError(f"no {key} label in {list(run_args)}")


def remove_command(name: str) -> str:
    return shlex.join(["docker", "rm", "-f", name])
