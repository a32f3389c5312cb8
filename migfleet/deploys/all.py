"""Every migfleet component in order: the inventory check, host tools and toolkit, Envoy, MIG layouts, Tritons.

A deploy file (this repository's deploy.py, or a user's own) calls `deploy_all()` once per host;
pyinfra can also run it without a deploy file:

    pyinfra INVENTORY migfleet.deploys.all.deploy_all --dry

It is a plain function, not a nested @deploy, so operation names stay those of the components.
A host with `mig_only: true` gets the inventory check and the MIG layouts only (no toolkit, Envoy or
Tritons): GPU hosts whose serving is not migfleet's.
"""
from __future__ import annotations

from migfleet.deploys.context import mig_setting, release_lock
from migfleet.deploys.envoy import deploy_envoy
from migfleet.deploys.mig import configure_mig
from migfleet.deploys.toolkit import install_toolkit
from migfleet.deploys.triton import deploy_tritons
from migfleet.deploys.validate import validate_inventory

# What `pyinfra INVENTORY <this>` runs, for `migfleet plan` and `migfleet rollout`.
PYINFRA_TARGET = f"{__name__}.deploy_all"


def deploy_all() -> None:
    validate_inventory()
    if mig_setting("mig_only"):
        configure_mig()
        release_lock()
        return
    install_toolkit()
    deploy_envoy()          # before MIG changes: Tritons leave Envoy's rotation before they stop
    configure_mig()
    deploy_tritons()
    release_lock()          # after the last change: the host lock goes (facts.lock)
