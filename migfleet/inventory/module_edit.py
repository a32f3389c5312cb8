"""Set one top-level assignment in a user's Python module, and leave every other byte alone.

migfleet writes into a user's group data (`advise --write`, `import -o`) only here. The module is
read as pyinfra reads it (UTF-8, run as Python); the one plain `NAME = <literal>` statement is
replaced, or added at the end, with the writer's note comments above it. The new text goes to a
temporary file in the same folder, is synced, and replaces the module in one rename, keeping its
mode. The module is then run again, fresh: it must give exactly the intended value, and every other
name the value it had; if not, the original file is put back and the write is refused.

Anything this cannot do exactly is refused before a byte is written, with the file and the reason:
a folder, a file that is not a `.py` module, text that is not UTF-8 or not Python, a module that
holds hosts (an inventory file), one that binds NAME in any other way (twice, `+=`, annotated,
computed, inside a block, a star import, writes to globals()) or reads it, and one that does not run.
"""
from __future__ import annotations

import ast
import contextlib
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from migfleet.inventory import module_shape
from migfleet.inventory.errors import cut, escaped

MAX_BYTES = 1 << 20         # a group data module (the shipped ones are about 1 kB)
NOTE_MARK = "# migfleet "   # the start of a writer's note: `# migfleet advise: ...` above the assignment
_NOTE = re.compile(rb"# migfleet [a-z]+: ")         # a line of such a note (a user's `# migfleet is...` is not)
_LINE_END = re.compile(rb"\r\n|\r|\n")      # Python's own line ends (str.splitlines knows more)
_TEXT_LINE_END = re.compile(r"\r\n|\r|\n")


class ModuleEditError(ValueError):
    """The module was not changed (or was put back); the message names the file and says why."""


def _refuse(path: Path, reason: str, line: int | None = None) -> ModuleEditError:
    return ModuleEditError(f"{path}: {f'line {line}: ' if line else ''}{reason}")


def _read(path: Path, real: Path) -> bytes | None:
    """The module's bytes (`real`: where `path` leads), None when there is no such file yet."""
    try:
        info = real.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _refuse(path, f"cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise _refuse(path, "is a folder; name the module file to write in it, e.g. "
                            f"{path / 'GROUP.py'}")
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, "is not a regular file; name a .py module")
    if info.st_size > MAX_BYTES:
        raise _refuse(path, f"is larger than {MAX_BYTES // 1024} KiB; a group data module is a few kB")
    try:
        return real.read_bytes()
    except OSError as exc:
        raise _refuse(path, f"cannot be read: {exc.strerror}") from None


def _text(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = len(_LINE_END.findall(raw[:exc.start])) + 1
        raise _refuse(path, f"byte 0x{raw[exc.start]:02x} is not UTF-8; pyinfra reads group data as UTF-8 "
                            "(save the file as UTF-8)", line) from None


def _line_of(text: str, index: int) -> int:
    return len(_TEXT_LINE_END.findall(text, 0, index)) + 1


def _tree(path: Path, text: str) -> ast.Module:
    if text.startswith("\ufeff"):
        raise _refuse(path, "starts with a byte order mark, which pyinfra cannot run (save it as UTF-8 "
                            "without BOM)", 1)
    if "\0" in text:
        raise _refuse(path, "holds a NUL byte, which no Python module does", _line_of(text, text.find("\0")))
    try:
        return ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        lines = _TEXT_LINE_END.split(text)
        n = exc.lineno or 1
        quoted = f": `{cut(escaped(lines[n - 1].strip()), 80)}`" if 0 < n <= len(lines) else ""
        raise _refuse(path, f"does not parse ({exc.msg}){quoted}; fix it first", exc.lineno) from None
    except (ValueError, MemoryError, RecursionError) as exc:      # nested past the parser's limits
        raise _refuse(path, f"does not parse ({type(exc).__name__}); fix it first") from None


def _newline(raw: bytes) -> bytes:
    found = _LINE_END.search(raw)
    return found.group() if found else b"\n"


def _offsets(raw: bytes) -> list[int]:
    """Byte offset of the start of each line (index 0: line 1), as the tokenizer counts lines."""
    return [0] + [m.end() for m in _LINE_END.finditer(raw)]


def _block(name: str, source: str, note: Sequence[str], with_note: bool, nl: bytes) -> bytes:
    lines = [NOTE_MARK + escaped(n).removeprefix("migfleet ") for n in note] if with_note else []
    text = "\n".join(lines + [f"{name} = {source}"])
    return text.encode("utf-8").replace(b"\n", nl)


def module_text(name: str, source: str, note: Sequence[str], new_module: str) -> str:
    """A module made from nothing: `new_module` (its docstring), the note, the assignment."""
    return new_module + _block(name, source, note, True, b"\n").decode("utf-8") + "\n"


def edited(path: Path, raw: bytes, name: str, source: str, note: Sequence[str]) -> tuple[bytes, str]:
    """The module's new bytes, its one `name = ...` "replaced" or "added" at the end (which of the
    two is returned beside them). Refuses, naming the file, what it cannot change exactly."""
    text = _text(path, raw)
    tree = _tree(path, text)
    try:
        found = module_shape.assignment(tree, name, text)
    except module_shape.Refusal as exc:
        raise _refuse(path, exc.reason, exc.line) from None
    nl = _newline(raw)
    if found is None:
        tail = b"" if not raw or raw.endswith((b"\n", b"\r")) else nl
        return raw + tail + (nl if raw else b"") + _block(name, source, note, True, nl) + nl, "added"
    starts = _offsets(raw)
    begin = starts[found.lineno - 1] + found.col_offset
    end = starts[found.end_lineno - 1] + found.end_col_offset
    whole_line = found.col_offset == 0
    if whole_line:
        first = found.lineno - 1
        while first > 0 and _NOTE.match(raw, starts[first - 1]):
            first -= 1     # the note of an earlier write goes with the value it described
        begin = starts[first]
    return raw[:begin] + _block(name, source, note, whole_line, nl) + raw[end:], "replaced"


def _run(path: Path, data: bytes, name: str) -> dict[str, str]:
    try:
        return module_shape.run(path, data.decode("utf-8"), name)
    except module_shape.Refusal as exc:
        raise _refuse(path, exc.reason, exc.line) from None


def _write_atomic(path: Path, data: bytes, mode: int | None) -> None:
    """`data` as `path`, in one rename: a reader sees the old file or the new one, never a part."""
    folder = path.parent
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            if mode is None:        # a new file gets what open() would give it
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.fchmod(fh.fileno(), stat.S_IMODE(mode))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):      # the rename itself, on disk (not every system allows this)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_file(path: str | Path, data: str) -> None:
    """A file migfleet owns whole (a command's -o): its folder made if missing, never a folder,
    replaced in one rename so no reader sees half of it. A device or pipe (-o /dev/stdout) is
    written as it is. Raises ModuleEditError naming the file."""
    path = Path(path)
    real = Path(os.path.realpath(path))
    try:
        kind = real.stat().st_mode
    except FileNotFoundError:
        kind = None
    except OSError as exc:
        raise _refuse(path, f"cannot be written ({exc.strerror})") from None
    if kind is not None and stat.S_ISDIR(kind):
        raise _refuse(path, f"is a folder; name the file to write, e.g. {path / 'FILE'}")
    try:
        if kind is not None and not stat.S_ISREG(kind):
            with open(real, "w", encoding="utf-8") as fh:
                fh.write(data)
            return
        real.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(real, data.encode("utf-8"), kind)
    except OSError as exc:
        raise _refuse(path, f"cannot be written ({exc.strerror or exc}); nothing was changed") from None


def set_assignment(path: str | Path, name: str, value: object, source: str | None = None,
                   note: Sequence[str] = (), new_module: str = "") -> str:
    """Make the module at `path` define `name = value` (its Python text `source`, repr(value) by
    default), changing nothing else. `note`: comment lines written above it; `new_module`: the text
    a module made from nothing starts with. Returns "created", "added" or "replaced"; raises
    ModuleEditError (nothing changed, or the original put back) naming the file and why."""
    path = Path(path)
    source = repr(value) if source is None else source
    if repr(ast.literal_eval(source)) != repr(value):
        raise ValueError(f"{name}: the source does not say the value")      # a writer's own mistake
    if os.path.isdir(path):
        raise _refuse(path, f"is a folder; name the module file to write in it, e.g. {path / 'GROUP.py'}")
    if path.suffix != ".py":
        raise _refuse(path, f"is not a Python module (the name does not end in .py); {name} is written only "
                            "into a group data module, e.g. group_data/GROUP.py")
    real = Path(os.path.realpath(path))     # a symlinked module is edited where it is, the link kept
    raw = _read(path, real)
    if raw is None:
        if path.is_symlink():
            raise _refuse(path, "is a link to a file that does not exist")
        before: dict[str, str] = {}
        data, action, mode = module_text(name, source, note, new_module).encode("utf-8"), "created", None
    else:
        data, action = edited(path, raw, name, source, note)
        before = _run(path, raw, name)
        mode = real.stat().st_mode
    backup = None
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        backup = _keep(real) if raw is not None else None
        _write_atomic(real, data, mode)
    except OSError as exc:
        _drop(backup)
        raise _refuse(path, f"cannot be written ({exc.strerror or exc}); nothing was changed") from None
    try:
        _check(path, real, data, name, value, before)
    except ModuleEditError as exc:
        _put_back(real, raw, backup, mode)
        put = "the original was put back" if raw is not None else "the new file was removed"
        raise ModuleEditError(f"{exc}; {put}") from None
    _drop(backup)
    return action


def _drop(backup: str | None) -> None:
    if backup:
        with contextlib.suppress(OSError):
            os.unlink(backup)


def _keep(real: Path) -> str | None:
    """A second name for the original file (a hard link, under a name no file has), so it can be put
    back as it was; None where the file system has no hard links (then its bytes are written back)."""
    for _ in range(5):
        backup = real.with_name(f".{real.name}.{secrets.token_hex(6)}.orig")
        try:
            os.link(real, backup)
            return str(backup)
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def _put_back(real: Path, raw: bytes | None, backup: str | None, mode: int | None) -> None:
    if raw is None:
        with contextlib.suppress(OSError):
            os.unlink(real)
    elif backup:
        os.replace(backup, real)
    else:
        _write_atomic(real, raw, mode)


def _check(path: Path, real: Path, data: bytes, name: str, value: object, before: dict) -> None:
    """The module as written, run fresh: `name` is exactly `value`, every other name as before."""
    if real.read_bytes() != data:
        raise _refuse(path, "reads back different from what was written")
    after = _run(path, data, name)
    if after.get(name) != repr(value):
        raise _refuse(path, f"after writing, the module's {name} is not the value written (something else in "
                            "the module changes it)")
    changed = sorted(k for k in set(before) | set(after) if k != name and before.get(k) != after.get(k))
    if changed:
        raise _refuse(path, f"after writing, {', '.join(changed[:5])} changed too")

