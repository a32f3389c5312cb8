"""The host's Envoy in front of its Tritons: config validated before it replaces the running one."""
from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from migfleet.operations import serving
from migfleet.serving.settings import resolve


@deploy("Envoy in front of the Tritons")
def deploy_envoy():
    settings = resolve(host.data)
    serving.image_present(name="Envoy image", image=settings["envoy_image"])
    config = serving.envoy_config(name="Envoy configuration", settings=settings)
    container = serving.envoy_container(name="Envoy container", settings=settings)
    serving.envoy_restart(name="Envoy reload for the new configuration", settings=settings,
                          _if=[config.did_change, container.did_not_change])
