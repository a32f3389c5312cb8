"""Check the whole inventory once, before any operation of any host is queued."""
from __future__ import annotations

import weakref

from pyinfra import context
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from migfleet import inventory as inventory_check
from migfleet.deploys.context import inventory_folder

# Inventory -> its errors. Every host's deploy run asks; the first computes, the others reuse it.
_checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class InvalidInventory(PyinfraError):
    """The inventory breaks the schema or a MIG geometry; the message lists every error."""


def inventory_errors(inventory) -> list:
    """Errors of every host's merged data (host, group and global data, connector keys included)."""
    if inventory not in _checked:
        hosts = {host.name: host.data.dict() for host in inventory}
        _checked[inventory] = inventory_check.validate_inventory(hosts, folder=inventory_folder())
    return _checked[inventory]


@deploy("Validate inventory")
def validate_inventory() -> None:
    errors = inventory_errors(context.host.inventory)    # the whole inventory, --limit or not
    if errors:
        # Raised while the deploy is being prepared: pyinfra stops before running anything anywhere.
        raise InvalidInventory(f"inventory rejected, {len(errors)} error(s), nothing was run:\n"
                               + inventory_check.format_errors(errors))
