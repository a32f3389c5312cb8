"""migfleet: validate the inventory, then MIG layouts, container toolkit, Triton, Envoy.

    pyinfra inventories/production.py deploy.py --dry     # what would change, per host and GPU
    pyinfra -y inventories/production.py deploy.py        # converge
"""
from tasks.envoy import deploy_envoy
from tasks.mig import configure_mig
from tasks.toolkit import install_toolkit
from tasks.triton import deploy_tritons
from tasks.validate import validate_inventory

validate_inventory()
configure_mig()
install_toolkit()
deploy_tritons()
deploy_envoy()
