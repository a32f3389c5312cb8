"""pyinfra operations of the serving stack: container toolkit, images, Tritons, Envoy.

Every operation decides from values of the run's one host read (facts.host.HostView), passed in
by its deploy; none reads the host itself, so a converged host costs no command here.
"""
from __future__ import annotations

import hashlib
import os
import shlex
from io import StringIO
from typing import Mapping, Sequence

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand, operation

from migfleet.serving import envoy
from migfleet.serving import triton
from migfleet.serving.containers import LABEL_CONFIG, has_nvidia_runtime, label_value, registry_of, remove_command

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


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
def packages_present(packages: Sequence[str], installed: Mapping[str, str]):
    """
    apt install of the missing ones (after an `apt-get update`); nothing when all are there.

    + packages: "name" or "name=version"
    + installed: package -> version, from the host read
    """
    missing = missing_packages({k: [v] for k, v in installed.items()}, packages)
    if not missing:
        host.noop(f"packages present: {', '.join(packages)}")
        return
    yield f"{APT_ENV} apt-get update -q"
    yield f"{APT_ENV} apt-get install -y -q {shlex.join(missing)}"


@operation()
def docker_engine(docker_now: str | None, installed: Mapping[str, str], package: str = "docker.io"):
    """
    Installs `package` only when no docker binary is on the host (any engine is kept).

    + docker_now: the docker binary's path from the host read, None when absent
    """
    if docker_now:
        host.noop(f"docker present at {docker_now}")
        return
    yield from packages_present._inner([package], installed)


@operation()
def apt_keyring(key_url: str, keyring: str, present: bool):
    """
    Dearmored signing key at `keyring`, fetched once (delete the file to fetch it again).

    + present: whether the keyring exists (host read)
    """
    if present:
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
def nvidia_runtime(daemon_json_now: str, daemon_config: str = "/etc/docker/daemon.json"):
    """
    Registers the nvidia runtime in Docker's daemon.json unless it is there already.

    + daemon_json_now: the file's text from the host read ("" when absent)
    """
    if has_nvidia_runtime(daemon_json_now):
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
def image_present(image: str, present: bool, registry_user: str = "$oauthtoken", key_env: str | None = None):
    """
    Pulls `image` unless present; logs in first when `key_env` is set in pyinfra's environment.

    + present: whether the host has it (host read)
    """
    if present:
        host.noop(f"image {image} present")
        return
    if key_env and os.environ.get(key_env):
        yield FunctionCommand(_login, (registry_of(image), registry_user, key_env), {})
    yield f"docker pull {shlex.quote(image)}"


# -- Tritons ---------------------------------------------------------------------------------

@operation()
def tritons(plan: triton.TritonPlan, timeout: float, lib_dir: str):
    """
    One Triton per MIG device: stale containers removed, the others started on the MIG device at
    their place (on the host, by migfleet.serving.rebind, which also waits until they are ready).

    + plan: serving.triton.TritonPlan
    + timeout: seconds each started Triton may take to become ready
    + lib_dir: where migfleet's host-side code lives on the host
    """
    if plan.converged:
        host.noop(f"{len(plan.unchanged)} Triton container(s) up to date")
        return
    if plan.to_remove:
        yield shlex.join(["docker", "rm", "-f", *plan.to_remove])
    if plan.to_start:
        yield triton.rebind_command([s.name for s in plan.to_start], timeout, lib_dir)


# -- Envoy -----------------------------------------------------------------------------------

@operation()
def envoy_config(text: str, digest_now: str | None, settings: Mapping):
    """
    Writes the Envoy config; validates it in the Envoy image before it replaces the old one.

    + text: the config
    + digest_now: sha256 of the config on the host now (host read), None when absent
    """
    path = envoy.config_path(settings)
    if digest_now == hashlib.sha256(text.encode()).hexdigest():
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
def envoy_container(settings: Mapping, current=None):
    """
    The host's Envoy, recreated only when its arguments changed.

    + current: its container now (host read), None when absent
    """
    args = envoy.container_args(settings)
    wanted_hash = label_value(args, LABEL_CONFIG)
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


@operation()
def service_running(service: str, active_now: str):
    """
    A systemd service running and enabled.

    + active_now: what `systemctl is-active` said in the host read
    """
    if active_now == "active":
        host.noop(f"{service} running")
        return
    yield f"systemctl enable --now {shlex.quote(service)}"


@operation(is_idempotent=False)
def service_restart(service: str):
    """Restart a systemd service (run only when an earlier operation changed its configuration)."""
    yield f"systemctl restart {shlex.quote(service)}"
