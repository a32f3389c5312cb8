"""migfleet: validate the inventory, then MIG layouts, container toolkit, Triton, Envoy.

    pyinfra inventories/production.py deploy.py --dry     # what would change, per host and GPU
    pyinfra -y inventories/production.py deploy.py        # converge
"""
from tasks import optional_task
from tasks.mig import configure_mig
from tasks.validate import validate_inventory

validate_inventory()
configure_mig()
for _name in ("toolkit", "triton", "envoy"):
    _task = optional_task(_name)
    if _task is not None:
        _task()
