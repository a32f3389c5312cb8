"""Load an inventory file the way the pyinfra CLI does, and say plainly why it cannot be loaded.

Inventory and group_data files are Python run by pyinfra; anything they raise reaches us wrapped
(pyinfra's UnexpectedExternalError, whose str() itself fails) or not at all (SystemExit is not an
Exception). Each is turned into one line naming the file and line of the user's code.

That code runs with a time limit (a loop that never ends is named by file and line), and what it
prints goes to standard error, so a command's own output (`migfleet targets`) stays clean. What
pyinfra merges without a word is reported: a host listed twice, and a group with no group data
whose name is close to a group_data file that no group uses (a misspelt group).
"""
from __future__ import annotations

import contextlib
import difflib
import logging
import os
import sys
import sysconfig
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from migfleet.inventory import time_limit
from migfleet.inventory.errors import InventoryError, cut
from migfleet.inventory.group_data import missed_group_data
from migfleet.inventory.time_limit import LOAD_SECONDS, TooSlow as _TooSlow, limit as _limit  # noqa: F401 (shared)

MIGFLEET_DIR = Path(__file__).resolve().parents[1]
MESSAGE_CHARS = 300     # of an exception's text quoted in a load error
NEWLINE = b"\n"


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
    if path.startswith("<") or not os.path.isabs(path) and not os.path.exists(path):
        return True         # Python's own, or a compiled extension's source (gevent's src/gevent/*.pxd)
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    p = os.path.realpath(path)
    return any(p.startswith(os.path.realpath(r) + os.sep) for r in roots) or p.startswith(str(MIGFLEET_DIR) + os.sep)


def _column(exc: UnicodeDecodeError) -> int:
    return exc.start - exc.object.rfind(NEWLINE, 0, exc.start)


def _read_file(exc: BaseException) -> str | None:
    """The file pyinfra was reading when its bytes failed to decode (exec_file's `filename`)."""
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_name == "exec_file" and isinstance(frame.f_locals.get("filename"), str):
            found = frame.f_locals["filename"]
    return found


def _where(exc: BaseException, fallback: str) -> str:
    """`file:line` of the innermost frame of user code in the exception's traceback."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{_relative(exc.filename)}:{exc.lineno}"
    if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, bytes) and (path := _read_file(exc)):
        return f"{_relative(path)}:{exc.object.count(NEWLINE, 0, exc.start) + 1}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _library(f.filename)]
    if frames:
        return f"{_relative(frames[-1].filename)}:{frames[-1].lineno}"
    return _relative(fallback)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"the inventory code called sys.exit({exc.code!r}); inventory files must only define hosts and data"
    if isinstance(exc, RecursionError):
        return "RecursionError: maximum recursion depth exceeded"
    if isinstance(exc, SyntaxError) and "U+FEFF" in str(exc.msg) and exc.lineno == 1:
        return "starts with a byte order mark, which pyinfra reads as code: save the file as UTF-8 without a BOM"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg}"
    if isinstance(exc, UnicodeDecodeError):
        return (f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at column {_column(exc)}): pyinfra reads inventory "
                "and group data files as UTF-8, whatever a coding line says; save the file as UTF-8")
    if isinstance(exc, _TooSlow):
        return (f"still running after {exc.seconds:g} s: inventory and group data files must only define hosts "
                "and data (a loop that never ends? MIGFLEET_LOAD_TIMEOUT sets the limit)")
    if type(exc).__name__ == "LoopExit":        # gevent: a wait on a lock, event or queue nothing can release
        return "waits for a lock, event or queue that nothing will ever release: inventory and group data files " \
               "must only define hosts and data"
    try:
        text = cut(str(exc).strip().split("\n", 1)[0], MESSAGE_CHARS)     # one line per problem
    except Exception:
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _time_limit(seconds: float):
    """The load's time limit (time_limit.time_limit), ending the process with the user's line where the
    code swallows every stop."""
    return time_limit.time_limit(seconds, _give_up)


def _give_up(seconds: float, frame) -> None:
    """The code caught every _TooSlow (`except BaseException` around a wait): nothing returns control
    to migfleet, so it says where the code is and ends the process rather than hang."""
    frames = [f for f in traceback.extract_stack(time_limit.waiting_frame(frame)) if not _library(f.filename)]
    where = f"{_relative(frames[-1].filename)}:{frames[-1].lineno}" if frames else "inventory code"
    sys.__stderr__.write(f"{where}: {_describe(_TooSlow(seconds))}; it also caught every attempt to stop it "
                         "(except BaseException?), so migfleet ends here\n")
    sys.__stderr__.flush()
    time_limit.end_children()
    os._exit(1)


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


@dataclass
class LoadedInventory:
    hosts: dict[str, dict]                                              # merged data by host name
    errors: list[InventoryError] = field(default_factory=list)          # what pyinfra merged silently
    groups: dict[str, list[str]] = field(default_factory=dict)          # pyinfra's groups of each host, sorted


def load_inventory_data(inventory_file: str) -> dict[str, dict]:
    """Host data of an inventory file, merged the way the pyinfra CLI does.

    group_data is looked up where the pyinfra CLI looks: ./group_data and the inventory's own
    folder. Raises InventoryLoadError naming file and line of any error in the Python it runs,
    or naming the hosts pyinfra would merge silently (load_inventory reports those beside the data).
    """
    loaded = load_inventory(inventory_file)
    if loaded.errors:
        raise InventoryLoadError([str(e) for e in loaded.errors])
    return loaded.hosts


@contextlib.contextmanager
def _recording(calls: list):
    """pyinfra's CLI builds its Inventory from the groups it read; keep what it was given."""
    import pyinfra_cli.inventory as cli_inventory
    real = cli_inventory.Inventory

    class Recording(real):
        def __init__(self, names_data, override_data=None, **groups):
            calls.append((names_data, groups))
            super().__init__(names_data, override_data, **groups)

    cli_inventory.Inventory = Recording
    try:
        yield
    finally:
        cli_inventory.Inventory = real


def load_inventory(inventory_file: str) -> LoadedInventory:
    """load_inventory_data, with what pyinfra merged silently as errors beside the data."""
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_config, ctx_state
    from pyinfra_cli.exceptions import UnexpectedExternalError
    from pyinfra_cli.inventory import make_inventory

    shown = _relative(inventory_file)
    # pyinfra also takes "h1,h2", and "@local": this machine, its data from ./group_data
    if not Path(inventory_file).is_file() and "," not in inventory_file and inventory_file != "@local":
        raise InventoryLoadError([f"{shown}: no such inventory file"])
    if missed := missed_group_data(inventory_file, os.getcwd()):
        raise InventoryLoadError([missed])
    state = State(check_for_changes=False)
    state.cwd = os.getcwd()
    if state.cwd not in sys.path:       # as pyinfra's CLI: inventory code imports modules of the folder it runs from
        sys.path.append(state.cwd)
    collect = _Collect(shown)
    logger = logging.getLogger("pyinfra")
    logger.addHandler(collect)
    propagate, logger.propagate = logger.propagate, False
    calls: list = []
    try:
        # Inventory and group data files run with pyinfra's context set, as under the CLI; nothing
        # connects. What they print is not the command's output.
        with ctx_state.use(state), ctx_config.use(Config()), _recording(calls), \
                contextlib.redirect_stdout(sys.stderr), _time_limit(_limit()):
            inventory = make_inventory(inventory_file, cwd=os.getcwd())
        hosts = {host.name: host.data.dict() for host in inventory}
        # pyinfra lists a group once per place it met the host, and adds its connector (`@local`) as a group
        groups = {host.name: sorted({g for g in host.groups if not g.startswith("@")}) for host in inventory}
    except UnexpectedExternalError as wrapped:
        real = wrapped.exception
        raise InventoryLoadError([f"{_where(real, wrapped.filename)}: {_describe(real)}"]) from None
    except (Exception, SystemExit, _TooSlow) as exc:      # SystemExit: sys.exit() in inventory code
        raise InventoryLoadError([f"{_where(exc, inventory_file)}: {_describe(exc)}"]) from None
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
    if collect.problems:
        raise InventoryLoadError([cut(p, 400) for p in collect.problems])
    errors = []
    if calls and Path(inventory_file).is_file():
        errors = _merged_silently(calls[-1], Path(inventory_file).name.rsplit(".", 1)[0])
    return LoadedInventory(hosts, errors, groups)


def _names(group) -> list[tuple[object, dict]]:
    hosts = group[0] if isinstance(group, tuple) else group
    return [(h[0], h[1]) if isinstance(h, tuple) and len(h) == 2 and isinstance(h[1], dict) else (h, {})
            for h in hosts]


def _merged_silently(call, file_group: str) -> list[InventoryError]:
    """Hosts listed twice (in one group, or with data of their own in two), and groups whose name is
    close to a group_data file no group uses while they have no group data themselves."""
    (all_names, _), groups = call
    out = []
    listed: dict[object, list[tuple[str, bool]]] = {}
    for group, members in [("all", all_names), *((g, v[0]) for g, v in groups.items())]:
        for name, data in _names(members):
            if isinstance(name, str):
                listed.setdefault(name, []).append((group, bool(data)))
    for name, where in listed.items():
        in_groups = [g for g, _ in where]
        with_data = [g for g, has in where if has]
        twice = sorted({g for g in in_groups if in_groups.count(g) > 1})
        if twice:
            out.append(InventoryError(name, "$", f"listed twice in group {', '.join(twice)}: pyinfra merges the "
                                      "entries silently; list each host once"))
        elif len(with_data) > 1:
            out.append(InventoryError(name, "$", f"listed with data of its own in groups {', '.join(with_data)}: "
                                      "pyinfra merges the entries silently; give its data once"))
    unused = sorted(g for g, (members, data) in groups.items() if not members and data)
    for group, (members, data) in groups.items():
        if group in ("all", file_group) or data or not members:
            continue
        close = difflib.get_close_matches(group, unused, n=1, cutoff=0.7)
        if close:
            first = next((n for n, _ in _names(members) if isinstance(n, str)), group)
            out.append(InventoryError(first, "$", f"is in group {group}, which has no group data, while "
                                      f"group_data/{close[0]}.py applies to no group: did you mean {close[0]}?"))
    return out

