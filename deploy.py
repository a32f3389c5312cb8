"""migfleet: validate the inventory, then MIG layouts, container toolkit, Triton, Envoy.

    pyinfra inventories/production.py deploy.py --dry     # what would change, per host and GPU
    pyinfra -y inventories/production.py deploy.py        # converge

The same composition the installed package runs (`migfleet plan`, migfleet.deploys.all).
"""
from migfleet.deploys.all import deploy_all

deploy_all()
