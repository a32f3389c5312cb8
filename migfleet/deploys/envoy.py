"""The host's Envoy in front of its Tritons: config validated before it replaces the running one."""
from __future__ import annotations

from pyinfra.api import deploy

from migfleet.deploys import context
from migfleet.operations import serving
from migfleet.serving import envoy, triton


@deploy("Envoy in front of the Tritons")
def deploy_envoy():
    try:
        context.mig_work()
    except context.HostMigError:
        return
    s, v = context.settings(), context.view()
    serving.image_present(name="Envoy image", image=s["envoy_image"], present=s["envoy_image"] in v.images)
    specs = triton.specs_for(context.layouts_after(), s)
    config = serving.envoy_config(name="Envoy configuration", text=envoy.config_text(specs, s),
                                  digest_now=v.files.get(envoy.config_path(s)), settings=s)
    container = serving.envoy_container(name="Envoy container", settings=s, current=v.container(envoy.CONTAINER_NAME))
    serving.envoy_restart(name="Envoy reload for the new configuration", settings=s,
                          _if=[config.did_change, container.did_not_change])
