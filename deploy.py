"""migfleet: validate the inventory, then MIG layouts, container toolkit, Triton, Envoy.

    pyinfra inventories/production.py deploy.py --dry     # what would change, per host and GPU
    pyinfra -y inventories/production.py deploy.py        # converge
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
