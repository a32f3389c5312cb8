"""Check the whole inventory once, before any operation of any host is queued."""
from __future__ import annotations

import os
import weakref
from functools import lru_cache

from pyinfra import context
from pyinfra.api.exceptions import PyinfraError

from migfleet import inventory as inventory_check
from migfleet.deploys.context import inventory_folder, pyinfra_arguments
from migfleet.inventory.group_data import missed_group_data

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


def group_data_missed() -> str | None:
    """The running pyinfra command's group data lookup misses the group_data/ beside its inventory's
    folder (run from elsewhere than the project root): one line, where to run from or what to name."""
    args = pyinfra_arguments()
    inventory = args.get("inventory")
    if not isinstance(inventory, str):
        return None         # pyinfra's API: the caller built the inventory, with whatever data it chose
    return _missed(inventory, os.getcwd(), tuple(str(d) for d in args.get("group_data") or ()))


@lru_cache(maxsize=4)
def _missed(inventory: str, cwd: str, extra: tuple[str, ...]) -> str | None:
    # Asked once per host of the run (the check runs in each host's deploy): the folders are looked at once.
    return missed_group_data(inventory, cwd, extra, pyinfra=True)


def validate_inventory() -> None:
    """Raises InvalidInventory, naming every error, before anything is queued for any host. A plain
    function, not a pyinfra @deploy: it queues no operation, and a @deploy costs pyinfra's argument
    handling for every host of every run (docs/SCALE.md)."""
    if missed := group_data_missed():
        raise InvalidInventory(f"inventory rejected, nothing was run: {missed}")
    errors = inventory_errors(context.host.inventory)    # the whole inventory, --limit or not
    if errors:
        # Raised while the deploy is being prepared: pyinfra stops before running anything anywhere.
        raise InvalidInventory(f"inventory rejected, {len(errors)} error(s), nothing was run:\n"
                               + inventory_check.format_errors(errors))
