"""Docker engine and NVIDIA container toolkit, with the nvidia runtime registered in Docker.

Docker is restarted only when the runtime registration changed its configuration.
"""
from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from migfleet.operations import serving
from migfleet.serving.settings import resolve

SOURCE_LIST = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"


@deploy("NVIDIA container toolkit")
def install_toolkit():
    settings = resolve(host.data)
    serving.docker_engine(name="Docker engine", package=settings["docker_package"])
    systemd.service(name="Docker running", service=settings["docker_service"],
                    running=True, enabled=True)
    serving.packages_present(name="Key and download tools", packages=["curl", "gnupg", "ca-certificates"])
    serving.apt_keyring(name="NVIDIA repository key", key_url=settings["toolkit_key_url"],
                        keyring=settings["toolkit_keyring"])
    files.put(name="NVIDIA container toolkit repository",
              src=StringIO(serving.toolkit_source_line(settings["toolkit_repo_url"], settings["toolkit_keyring"])),
              dest=SOURCE_LIST, mode="644")
    package = settings["toolkit_package"]
    if settings["toolkit_version"]:
        package = f"{package}={settings['toolkit_version']}"
    serving.packages_present(name="NVIDIA container toolkit", packages=[package])
    runtime = serving.nvidia_runtime(name="nvidia runtime in Docker",
                                     daemon_config=settings["docker_daemon_config"])
    systemd.service(name="Restart Docker for the nvidia runtime", service=settings["docker_service"],
                    restarted=True, _if=runtime.did_change)
