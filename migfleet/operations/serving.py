"""pyinfra operations of the serving stack: container toolkit, Tritons, Envoy.

Each operation reads its facts when it runs (pyinfra re-runs the body at execution), so
Tritons and Envoy follow the MIG layout the earlier MIG operations left, and a re-run with
nothing to change yields no command.
"""
from __future__ import annotations

import hashlib
import os
import shlex
from io import StringIO
from typing import Mapping, Sequence

from pyinfra import host, logger
from pyinfra.api import FactBase, FileUploadCommand, FunctionCommand, StringCommand, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File, FileContents, Sha1File
from pyinfra.facts.server import Which

from migfleet.serving import envoy
from migfleet.serving import triton
from migfleet.serving.containers import (
    INSPECT_COMMAND, LABEL_CONFIG, LABEL_GPU_UUID, has_nvidia_runtime, label_value, parse_inspect,
    registry_of, remove_command,
)

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


def mig_snapshot_fact():
    # Imported late: migfleet.facts belongs to the MIG side and is only needed when an op runs.
    from migfleet.facts.mig import MigSnapshot
    return MigSnapshot


class ServingContainers(FactBase):
    """Containers carrying the migfleet.role label (Tritons and Envoy), parsed from docker inspect."""

    def requires_command(self) -> str:
        return "docker"

    def command(self) -> str:
        return INSPECT_COMMAND

    @staticmethod
    def default() -> list:
        return []

    def process(self, output):
        return parse_inspect("\n".join(output))


class DockerImageId(FactBase):
    """Local image id of an image reference, or None when the image is not present."""

    def requires_command(self, image) -> str:
        return "docker"

    def command(self, image) -> str:
        return f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(image)} 2>/dev/null || true"

    def process(self, output):
        text = "\n".join(output).strip()
        return text or None


class TritonRunFiles(FactBase):
    """SHA-1 of each run file (`*.run`) in a directory: file name -> digest; empty when none."""

    def command(self, directory) -> str:
        return (f"cd {shlex.quote(directory)} 2>/dev/null || exit 0; "
                f"for f in *{triton.RUN_SUFFIX}; do [ -f \"$f\" ] && sha1sum \"$f\"; done; true")

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output):
        digests = {}
        for line in output:
            digest, sep, name = line.partition("  ")
            if not sep or len(digest) != 40:
                raise ValueError(f"unexpected sha1sum output line: {line!r}")
            digests[name] = digest
        return digests


# -- apt and Docker engine --------------------------------------------------------------------

def missing_packages(installed: Mapping[str, Sequence[str]], wanted: Sequence[str]) -> list[str]:
    """Packages of `wanted` ("name" or "name=version") that dpkg does not have as asked."""
    missing = []
    for spec in wanted:
        name, _, version = spec.partition("=")
        versions = installed.get(name) or ()
        if not versions or (version and version not in versions):
            missing.append(spec)
    return missing


@operation()
def packages_present(packages: Sequence[str]):
    """apt install of the missing ones (after an `apt-get update`); nothing when all are there."""
    missing = missing_packages(host.get_fact(DebPackages) or {}, packages)
    if not missing:
        host.noop(f"packages present: {', '.join(packages)}")
        return
    yield f"{APT_ENV} apt-get update -q"
    yield f"{APT_ENV} apt-get install -y -q {shlex.join(missing)}"


@operation()
def docker_engine(package: str = "docker.io"):
    """Installs `package` only when no docker binary is on the host (any engine is kept)."""
    found = host.get_fact(Which, command="docker")
    if found:
        host.noop(f"docker present at {found}")
        return
    yield from packages_present._inner([package])


@operation()
def apt_keyring(key_url: str, keyring: str):
    """Dearmored signing key at `keyring`, fetched once (delete the file to fetch it again)."""
    if host.get_fact(File, path=keyring):
        host.noop(f"keyring {keyring} present")
        return
    tmp = f"{keyring}.tmp"
    yield (f"mkdir -p {shlex.quote(os.path.dirname(keyring))} && "
           f"curl -fsSL {shlex.quote(key_url)} | gpg --batch --yes --dearmor -o {shlex.quote(tmp)} && "
           f"test -s {shlex.quote(tmp)} && chmod 644 {shlex.quote(tmp)} && "
           f"mv -f {shlex.quote(tmp)} {shlex.quote(keyring)}")


def toolkit_source_line(repo_url: str, keyring: str) -> str:
    return f"deb [signed-by={keyring}] {repo_url} /\n"


@operation()
def nvidia_runtime(daemon_config: str = "/etc/docker/daemon.json"):
    """Registers the nvidia runtime in Docker's daemon.json unless it is there already."""
    lines = host.get_fact(FileContents, path=daemon_config)
    text = "\n".join(lines) if lines else ""
    if has_nvidia_runtime(text):
        host.noop(f"nvidia runtime already in {daemon_config}")
        return
    yield f"nvidia-ctk runtime configure --runtime=docker --config={shlex.quote(daemon_config)}"


# -- images ----------------------------------------------------------------------------------

def _login(state, host, registry: str, user: str, key_env: str):
    """docker login with the key on stdin; the key never enters a command line or a log."""
    key = os.environ.get(key_env, "")
    command = StringCommand("docker", "login", registry, "-u", shlex.quote(user), "--password-stdin")
    ok, output = host.run_shell_command(command, _stdin=key, print_output=False, print_input=False)
    if not ok:
        logger.error(f"{host.print_prefix}docker login {registry} as {user} failed: "
                     f"{' '.join(output.stderr_lines)}")
    return ok


@operation()
def image_present(image: str, registry_user: str = "$oauthtoken", key_env: str | None = None):
    """Pulls `image` unless present; logs in first when `key_env` is set in pyinfra's environment."""
    if host.get_fact(DockerImageId, image=image):
        host.noop(f"image {image} present")
        return
    if key_env and os.environ.get(key_env):
        yield FunctionCommand(_login, (registry_of(image), registry_user, key_env), {})
    yield f"docker pull {shlex.quote(image)}"


# -- Tritons ---------------------------------------------------------------------------------

@operation()
def tritons(settings: Mapping, models_digest: str = ""):
    """One Triton per MIG device: removes stale ones, starts missing ones, waits until ready."""
    gpus = host.get_fact(mig_snapshot_fact())
    plan = triton.plan_tritons(gpus, host.get_fact(ServingContainers), settings, models_digest)
    if plan.converged:
        host.noop(f"{len(plan.unchanged)} Triton container(s) up to date")
        return
    for container in plan.to_remove:
        yield remove_command(container.name)
    for spec in plan.to_start:
        yield triton.run_command(spec)
    if plan.to_start:
        yield triton.ready_wait_script(plan.to_start, settings["triton_ready_timeout"])


@operation()
def triton_run_files(settings: Mapping, models_digest: str = "", directory: str = triton.RUN_DIR):
    """The run files the boot-time re-bind reads (migfleet.triton.run_files): written where they
    differ, removed for Tritons that no longer exist."""
    wanted = triton.run_files(host.get_fact(mig_snapshot_fact()), settings, models_digest)
    present = host.get_fact(TritonRunFiles, directory=directory)
    changed = [name for name, text in wanted.items()
               if present.get(name) != hashlib.sha1(text.encode()).hexdigest()]
    stale = sorted(set(present) - set(wanted))
    if not changed and not stale:
        host.noop(f"{len(wanted)} Triton run file(s) in {directory} up to date")
        return
    if changed:
        yield f"mkdir -p {shlex.quote(directory)}"
    for name in changed:
        path = f"{directory}/{name}"
        yield FileUploadCommand(StringIO(wanted[name]), path, remote_temp_filename=host.get_temp_filename(path))
        yield f"chmod 644 {shlex.quote(path)}"
    if stale:
        yield "rm -f " + " ".join(shlex.quote(f"{directory}/{name}") for name in stale)


@operation()
def remove_gpu_tritons(gpu_uuids: Sequence[str]):
    """Removes the Tritons bound to these GPUs' MIG devices (run before their layout changes)."""
    wanted = set(gpu_uuids)
    doomed = [c for c in host.get_fact(ServingContainers)
              if c.role == triton.ROLE and c.labels.get(LABEL_GPU_UUID) in wanted]
    if not doomed:
        host.noop(f"no Triton on {', '.join(sorted(wanted))}")
        return
    for container in doomed:
        yield remove_command(container.name)


# -- Envoy -----------------------------------------------------------------------------------

def _envoy_text(settings: Mapping) -> str:
    specs = triton.desired_tritons(host.get_fact(mig_snapshot_fact()), settings)
    return envoy.config_text(specs, settings)


@operation()
def envoy_config(settings: Mapping):
    """Writes the Envoy config for the live MIG devices; validates it in the Envoy image first."""
    text = _envoy_text(settings)
    path = envoy.config_path(settings)
    if host.get_fact(Sha1File, path=path) == hashlib.sha1(text.encode()).hexdigest():
        host.noop(f"{path} up to date")
        return
    staged = f"{path}.new"
    yield f"mkdir -p {shlex.quote(settings['envoy_config_dir'])}"
    yield FileUploadCommand(StringIO(text), staged, remote_temp_filename=host.get_temp_filename(staged))
    yield f"chmod 644 {shlex.quote(staged)}"
    yield envoy.validate_command(settings, staged)
    yield f"mv -f {shlex.quote(staged)} {shlex.quote(path)}"


def envoy_ready_script(admin_port: int, timeout_s: int = 30) -> str:
    return (f"i=0; until curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:{admin_port}/ready; do "
            f"i=$((i+1)); if [ $i -ge {timeout_s} ]; then "
            f"echo 'Envoy container {envoy.CONTAINER_NAME} not ready after {timeout_s} s; last log lines:' >&2; "
            f"docker logs --tail 50 {envoy.CONTAINER_NAME} >&2 2>&1; exit 1; fi; sleep 1; done")


@operation()
def envoy_container(settings: Mapping):
    """The host's Envoy, recreated only when its arguments changed (a new config restarts it)."""
    args = envoy.container_args(settings)
    wanted_hash = label_value(args, LABEL_CONFIG)
    current = next((c for c in host.get_fact(ServingContainers) if c.name == envoy.CONTAINER_NAME), None)
    if current is not None and current.alive and current.config_hash == wanted_hash:
        host.noop(f"{envoy.CONTAINER_NAME} up to date")
        return
    if current is not None:
        yield remove_command(current.name)
    yield envoy.run_command(args)
    yield envoy_ready_script(settings["envoy_admin_port"])


@operation(is_idempotent=False)
def envoy_restart(settings: Mapping):
    """Restart the host's Envoy so that it loads the config now in place (same container)."""
    yield f"docker restart {envoy.CONTAINER_NAME}"
    yield envoy_ready_script(settings["envoy_admin_port"])
