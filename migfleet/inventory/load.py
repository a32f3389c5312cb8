"""Load an inventory file the way the pyinfra CLI does, and say plainly why it cannot be loaded.

Inventory and group_data files are Python run by pyinfra; anything they raise reaches us wrapped
(pyinfra's UnexpectedExternalError, whose str() itself fails) or not at all (SystemExit is not an
Exception). Each is turned into one line naming the file and line of the user's code.
"""
from __future__ import annotations

import logging
import os
import sysconfig
import traceback
from pathlib import Path

MIGFLEET_DIR = Path(__file__).resolve().parents[1]


class InventoryLoadError(Exception):
    """The inventory could not be read; `problems` are `file:line: reason` lines."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _relative(path: str) -> str:
    try:
        return os.path.relpath(path) if os.path.isabs(path) and not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path


def _library(path: str) -> bool:
    """Frames of Python itself, installed packages, or migfleet: not where the user's mistake is."""
    if path.startswith("<"):
        return True
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    p = os.path.realpath(path)
    return any(p.startswith(os.path.realpath(r) + os.sep) for r in roots) or p.startswith(str(MIGFLEET_DIR) + os.sep)


def _where(exc: BaseException, fallback: str) -> str:
    """`file:line` of the innermost frame of user code in the exception's traceback."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{_relative(exc.filename)}:{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _library(f.filename)]
    if frames:
        return f"{_relative(frames[-1].filename)}:{frames[-1].lineno}"
    return _relative(fallback)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"the inventory code called sys.exit({exc.code!r}); inventory files must only define hosts and data"
    if isinstance(exc, RecursionError):
        return "RecursionError: maximum recursion depth exceeded"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg}"
    try:
        text = str(exc)
    except Exception:
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Collect(logging.Handler):
    """pyinfra warns (and goes on) when it ignores a malformed host group; here that is an error."""

    def __init__(self, inventory: str):
        super().__init__(logging.WARNING)
        self.inventory, self.problems = inventory, []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        self.problems.append(f"{self.inventory}: {text}")


def load_inventory_data(inventory_file: str) -> dict[str, dict]:
    """Host data of an inventory file, merged the way the pyinfra CLI does.

    group_data is looked up where the pyinfra CLI looks: ./group_data and the inventory's own
    folder. Raises InventoryLoadError naming file and line of any error in the Python it runs.
    """
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_config, ctx_state
    from pyinfra_cli.exceptions import UnexpectedExternalError
    from pyinfra_cli.inventory import make_inventory

    shown = _relative(inventory_file)
    # pyinfra also takes "h1,h2", and "@local": this machine, its data from ./group_data
    if not Path(inventory_file).is_file() and "," not in inventory_file and inventory_file != "@local":
        raise InventoryLoadError([f"{shown}: no such inventory file"])
    state = State(check_for_changes=False)
    state.cwd = os.getcwd()
    collect = _Collect(shown)
    logger = logging.getLogger("pyinfra")
    logger.addHandler(collect)
    propagate, logger.propagate = logger.propagate, False
    try:
        # Inventory and group data files run with pyinfra's context set, as under the CLI; nothing connects.
        with ctx_state.use(state), ctx_config.use(Config()):
            inventory = make_inventory(inventory_file, cwd=os.getcwd())
            hosts = {host.name: host.data.dict() for host in inventory}
    except UnexpectedExternalError as wrapped:
        real = wrapped.exception
        raise InventoryLoadError([f"{_where(real, wrapped.filename)}: {_describe(real)}"]) from None
    except (Exception, SystemExit) as exc:      # SystemExit: sys.exit() in inventory code
        raise InventoryLoadError([f"{_where(exc, inventory_file)}: {_describe(exc)}"]) from None
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
    if collect.problems:
        raise InventoryLoadError(collect.problems)
    return hosts

