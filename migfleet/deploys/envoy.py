"""The host's Envoy in front of its Tritons, configured from files it reloads without restarting.

Runs before the MIG layout changes, so the Tritons that leave can be taken out of Envoy's
rotation first (see migfleet.serving.rotation).
"""
from __future__ import annotations

from functools import lru_cache

from pyinfra.api import deploy
from pyinfra.connectors.local import LocalConnector

from migfleet.deploys import context, serving_plan
from migfleet.operations import files, serving
from migfleet.serving import envoy, metrics, rotation


class AllowListError(Exception):
    """No default allow list for the metrics endpoint could be found; the message says how to set one."""


def allow_networks(s, address: str, on_host: bool = False) -> list[str]:
    """Who may scrape the metrics endpoint: the setting, else the network the deploy reaches the
    host from, or, when the deploy runs on the host itself (`@local`), loopback plus the host's own
    networks."""
    if s["metrics_allow_networks"] is not None:
        return list(s["metrics_allow_networks"])
    try:
        return list(_local_networks()) if on_host else [_source_network(address)]
    except metrics.NetworkLookupError as e:
        raise AllowListError(f"metrics_allow_networks: no default: {e}; set metrics_allow_networks to the "
                             "networks (CIDR) allowed to scrape this host") from None


@lru_cache(maxsize=None)
def _source_network(address: str) -> str:
    return metrics.deploy_source_network(address)


@lru_cache(maxsize=1)
def _local_networks() -> tuple[str, ...]:
    return tuple(metrics.local_networks())


@deploy("Envoy in front of the Tritons")
def deploy_envoy():
    from pyinfra import host
    try:
        context.mig_work()
    except context.HostMigError:
        return
    s, v = context.settings(), context.view()
    try:
        allowed = allow_networks(s, host.data.get("ssh_hostname") or host.name,
                                 on_host=host.connector_cls is LocalConnector)
    except AllowListError as e:     # this host fails before anything is queued for it; others go on
        context.fail_host(str(e))
        return
    context.queue(serving.image_present, name="Envoy image", image=s["envoy_image"], present=s["envoy_image"] in v.images)
    context.queue(files.content, name="Rotation settings", path=rotation.HOST_CONFIG, text=serving_plan.rotation_config(),
                  digest_now=v.files.get(rotation.HOST_CONFIG))
    texts = envoy.files(serving_plan.triton_specs(), s, host.name, allowed)
    context.queue(serving.envoy_files, name="Envoy configuration", files=texts, settings=s, lib_dir=context.LIB_DIR,
                        digests_now={n: v.files[context.envoy_path(n)] for n in context.ENVOY_FILES
                                     if context.envoy_path(n) in v.files},
                        rendered=[n for n in context.ENVOY_FILES if n not in texts])
    context.queue(serving.envoy_container, name="Envoy container", settings=s, bootstrap_text=texts[envoy.BOOTSTRAP],
                            current=v.container(envoy.CONTAINER_NAME))
