"""Docker engine and NVIDIA container toolkit, with the nvidia runtime registered in Docker.

Docker is restarted only when the runtime registration changed its configuration. pyinfra's own
apt.key/apt.repo/apt.packages and systemd.service would each read the host again on every run
(one round trip each); these operations decide from the run's one host read instead.
"""
from __future__ import annotations


from pyinfra.api import deploy

from migfleet.deploys import context
from migfleet.operations import files, serving

SOURCE_LIST = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"


@deploy("Host tools and NVIDIA container toolkit")
def install_toolkit():
    try:
        context.mig_work()
    except context.HostMigError:
        return      # nothing for a host that lacks a prerequisite or cannot be planned; Configure MIG says why
    s, v = context.settings(), context.view()
    context.queue(serving.docker_engine, name="Docker engine", docker_now=v.docker, installed=v.packages,
                          package=s["docker_package"])
    context.queue(serving.service_running, name="Docker running", service=s["docker_service"],
                            active_now=v.active.get(s["docker_service"], ""))
    context.queue(serving.packages_present, name="Host tools", packages=list(context.HOST_PACKAGES),
                             installed=v.packages)
    # migfleet's own host-side code (boot replay, Triton start and Envoy rotation): stdlib Python.
    context.queue_tree("migfleet host code", context.LIB_DIR, context.host_code())
    context.queue(serving.apt_keyring, name="NVIDIA repository key", key_url=s["toolkit_key_url"], keyring=s["toolkit_keyring"],
                        present=s["toolkit_keyring"] in v.files)
    context.queue(files.content, name="NVIDIA container toolkit repository", path=SOURCE_LIST,
                  text=serving.toolkit_source_line(s["toolkit_repo_url"], s["toolkit_keyring"]),
                  digest_now=v.files.get(SOURCE_LIST))
    package = s["toolkit_package"] + (f"={s['toolkit_version']}" if s["toolkit_version"] else "")
    context.queue(serving.packages_present, name="NVIDIA container toolkit", packages=[package], installed=v.packages)
    runtime = context.queue(serving.nvidia_runtime, name="nvidia runtime in Docker", daemon_json_now=v.daemon_json,
                                     daemon_config=s["docker_daemon_config"])
    if runtime.will_change:     # Docker reads its runtimes only when it starts
        context.queue(serving.service_restart, name="Restart Docker for the nvidia runtime",
                      service=s["docker_service"], _if=runtime.did_change)
