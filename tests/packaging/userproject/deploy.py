"""A pyinfra project of its own using the installed migfleet package (not this repository's code).

Each component is a deploy of its own; this project runs them all, in migfleet's order:

    pyinfra -y inventory.py deploy.py
"""
from migfleet.deploys.envoy import deploy_envoy
from migfleet.deploys.mig import configure_mig
from migfleet.deploys.toolkit import install_toolkit
from migfleet.deploys.triton import deploy_tritons
from migfleet.deploys.validate import validate_inventory

validate_inventory()
configure_mig()
install_toolkit()
deploy_tritons()
deploy_envoy()
