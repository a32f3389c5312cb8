"""pyinfra operations of the serving stack: container toolkit, images, Tritons, Envoy.

Every operation decides from values of the run's one host read (facts.host.HostView), passed in
by its deploy; none reads the host itself, so a converged host costs no command here.
"""
from __future__ import annotations

import os
import shlex
from io import StringIO
from typing import Mapping, Sequence

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand, operation

from migfleet.digest import sha256
from migfleet.serving import endpoints, envoy
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


# -- Tritons and rotation ---------------------------------------------------------------------

def rotation_command(action: str, names=(), lib_dir: str = "/usr/local/lib/migfleet") -> str:
    """`python3 -m migfleet.serving.rotation ACTION [NAMES]` on the host (serving.rotation)."""
    tail = f" {shlex.quote(','.join(names))}" if names else ""
    return f"PYTHONPATH={shlex.quote(lib_dir)} python3 -m migfleet.serving.rotation {action}{tail}"


@operation()
def tritons(plan: triton.TritonPlan, rolling: Sequence[str], lib_dir: str, sync: bool = False,
            moving: Sequence[str] = ()):
    """
    One Triton per MIG device. Strays leave Envoy's rotation, drain and stop; new ones start on the
    MIG device at their place and join once ready; replaced ones (new config, models or image) go
    one at a time, each drained first. Tritons that do not change are not touched.

    + plan: serving.triton.TritonPlan
    + rolling: names in plan.to_start whose running container is replaced in place (one at a time)
    + lib_dir: where migfleet's host-side code lives on the host
    + sync: rewrite Envoy's endpoint files even when no Triton changes (they differ from the Tritons)
    + moving: Tritons that stay but whose models change (loaded and unloaded in place, no request lost)
    """
    if plan.converged and not sync and not moving:
        host.noop(f"{len(plan.unchanged)} Triton container(s) up to date, all in rotation")
        return
    if plan.to_remove:
        yield rotation_command("drain", plan.to_remove, lib_dir)
    fresh = [s.name for s in plan.to_start if s.name not in rolling]
    if fresh:
        yield rotation_command("start", fresh, lib_dir)
    if rolling:
        yield rotation_command("roll", rolling, lib_dir)
    if moving:
        yield rotation_command("models", moving, lib_dir)
    if not fresh and not rolling and not moving:
        yield rotation_command("sync", (), lib_dir)


def admin_command(admin_port: int, what: str) -> str:
    return f"curl -fsS -X POST -o /dev/null --max-time 5 http://127.0.0.1:{admin_port}/healthcheck/{what}"


@operation()
def host_leaves(admin_port: int, drain_seconds: float):
    """
    The host's own health endpoint fails, so a fleet-level balancer stops sending to it; then the
    in-flight requests get `drain_seconds` to finish. Used before a change that takes all of the
    host's serving capacity (every Triton changes, a reboot, a new Envoy).

    + admin_port: Envoy's admin port (127.0.0.1)
    + drain_seconds: how long to wait after failing the health endpoint
    """
    yield f"if docker inspect {envoy.CONTAINER_NAME} >/dev/null 2>&1; then {admin_command(admin_port, 'fail')} " \
          f"&& sleep {float(drain_seconds):g}; fi; true"


@operation(is_idempotent=False)
def host_rejoins(admin_port: int):
    """The host's health endpoint answers 200 again (after host_leaves)."""
    yield admin_command(admin_port, "ok") + " || true"


# -- Envoy -----------------------------------------------------------------------------------

@operation()
def envoy_files(files: Mapping[str, str], digests_now: Mapping[str, str], settings: Mapping, lib_dir: str,
                rendered: Sequence[str] = ()):
    """
    Envoy's bootstrap, clusters and listener template: staged beside the watched directory,
    checked whole by the Envoy of the image that runs them, then renamed into place (clusters
    before listeners); the host renders the listeners and endpoints from them.

    + files: file name -> text (serving.envoy.files)
    + digests_now: file name -> sha256 in the config directory now (host read)
    + rendered: the files the host renders (listeners, endpoints); rendered again if one is missing
    """
    changed = [n for n, text in files.items() if digests_now.get(n) != sha256(text)]
    missing = [n for n in rendered if n not in digests_now]
    if not changed and not missing:
        host.noop(f"{settings['envoy_config_dir']}: Envoy configuration up to date")
        return
    if not changed:
        yield rotation_command("sync", (), lib_dir)
        return
    directory = settings["envoy_config_dir"].rstrip("/")
    staging = f"{directory}/.staging"
    yield f"mkdir -p {shlex.quote(staging)}"
    for name, text in {**files, envoy.VALIDATE: envoy.validation_bootstrap(files)}.items():
        path = f"{staging}/{name}"
        yield FileUploadCommand(StringIO(text), path, remote_temp_filename=host.get_temp_filename(path))
    yield envoy.validate_command(settings, staging)
    order = [envoy.BOOTSTRAP, envoy.CDS, endpoints.LDS_TEMPLATE]
    for name in sorted(changed, key=order.index):
        yield f"mv -f {shlex.quote(f'{staging}/{name}')} {shlex.quote(f'{directory}/{name}')}"
    yield rotation_command("sync", (), lib_dir)


def envoy_ready_script(admin_port: int, timeout_s: int = 30) -> str:
    return (f"i=0; until curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:{admin_port}/ready; do "
            f"i=$((i+1)); if [ $i -ge {timeout_s} ]; then "
            f"echo 'Envoy container {envoy.CONTAINER_NAME} not ready after {timeout_s} s; last log lines:' >&2; "
            f"docker logs --tail 50 {envoy.CONTAINER_NAME} >&2 2>&1; exit 1; fi; sleep 1; done")


@operation()
def envoy_container(settings: Mapping, bootstrap_text: str, current=None):
    """
    The host's Envoy, replaced only for a new image or bootstrap, and then after the host drained.

    + bootstrap_text: the bootstrap it runs (its digest is part of the config hash)
    + current: its container now (host read), None when absent
    """
    args = envoy.container_args(settings, bootstrap_text)
    wanted_hash = label_value(args, LABEL_CONFIG)
    if current is not None and current.alive and current.config_hash == wanted_hash:
        host.noop(f"{envoy.CONTAINER_NAME} up to date")
        return
    if current is not None:
        if current.alive:
            yield from host_leaves._inner(settings["envoy_admin_port"], settings["envoy_drain_seconds"])
        yield remove_command(current.name)
    yield envoy.run_command(args)
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


@operation()
def services_stopped(services: Sequence[str]):
    """
    Stop the services holding the GPUs before a reset or MIG mode change (started again after).

    + services: systemd units
    """
    if not services:
        host.noop("no service holds the GPUs")
        return
    yield "systemctl stop " + " ".join(shlex.quote(s) for s in services)


@operation(is_idempotent=False)
def services_started(services: Sequence[str]):
    """Start again the services stopped by services_stopped."""
    yield "systemctl start " + " ".join(shlex.quote(s) for s in services)
