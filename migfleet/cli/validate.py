"""`migfleet validate INVENTORY`: schema + MIG geometry of every host, no host contacted.

The command's code lives in migfleet/__main__.py for now (another change to it is under way);
this module is where the dispatcher finds it.
"""
from __future__ import annotations

from migfleet.__main__ import validate as main

__all__ = ["main"]
