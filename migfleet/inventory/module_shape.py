"""What a group data module does with one name, read two ways: its syntax (is NAME one plain
`NAME = <literal>` at the top level, or bound, computed or read any other way?) and its run (what
pyinfra would take from it as group data, and whether it holds hosts, i.e. is an inventory file).

module_edit asks both before it changes a byte, and runs the module again after.
"""
from __future__ import annotations

import ast
import contextlib
import re
import sys
from collections.abc import Iterator

from migfleet.inventory.errors import cut, escaped
from migfleet.inventory.load import _describe, _limit, _time_limit, _TooSlow, _where

NAMESPACE_CALLS = {"globals", "vars", "locals"}
NAMESPACE_WRITES = {"update", "setdefault", "__setitem__", "__delitem__", "pop", "popitem", "clear"}
_BLOCKS = {ast.If: "if", ast.For: "for", ast.AsyncFor: "for", ast.While: "while", ast.Try: "try",
           ast.With: "with", ast.AsyncWith: "with", ast.Match: "match"}
_OPS = {ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.BitOr: "|=", ast.BitAnd: "&="}
if sys.version_info >= (3, 11):
    _BLOCKS[ast.TryStar] = "try"


class Refusal(Exception):
    """Why the module cannot be edited exactly; `line` where that is (or None)."""

    def __init__(self, reason: str, line: int | None = None):
        self.reason, self.line = reason, line
        super().__init__(reason)


def _quote(node: ast.AST, text: str, line: bool = False) -> str:
    """` `code`` quoting the node's first line (`line`: the whole line it is on), or ""."""
    if line:
        lines = re.split(r"\r\n|\r|\n", text)       # Python's line ends (str.splitlines knows more)
        segment = lines[node.lineno - 1] if 0 < node.lineno <= len(lines) else ""
    else:
        segment = (ast.get_source_segment(text, node) or "") if text else ""
    first = segment.strip().splitlines()[0] if segment.strip() else ""
    return f" `{cut(escaped(first), 60)}`" if first else ""


def _article(word: str | None) -> str:
    return "an" if word and word[0] in "aeiou" else "a"


def _walk(node: ast.AST, block: str | None, scoped: bool) -> Iterator[tuple[ast.AST, str | None, bool]]:
    """Every node with the innermost block statement around it (None: the module's top level) and
    whether it sits in a function or class body (names bound there are not the module's)."""
    for child in ast.iter_child_nodes(node):
        yield child, block, scoped
        kind = _BLOCKS.get(type(child))
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield from _walk(child, block, True)
        else:
            yield from _walk(child, kind or block, scoped)


def _bindings(tree: ast.Module, name: str, text: str) -> tuple[list[tuple[int, str, ast.AST]], list]:
    """(line, what, node) for every statement that may bind `name` in the module's namespace, and
    the refusals that do not depend on how many there are (star imports, reads, globals() writes)."""
    sites: list[tuple[int, str, ast.AST]] = []
    other: list[Refusal] = []
    targets: set[int] = set()       # Name nodes already counted with their statement
    for node, block, scoped in _walk(tree, None, False):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
            targets |= {id(t) for t in (node.targets if isinstance(node, ast.Assign) else [node.target])}
        where = f" inside {'a function' if scoped else f'{_article(block)} `{block}` block'}" if scoped or block else ""
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Assign) and not scoped and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            if block:
                sites.append((line, f"assigned{where}", node))
            elif len(node.targets) > 1:
                sites.append((line, "assigned together with other names", node))
            else:
                sites.append((line, "=", node))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == name \
                and not scoped:
            sites.append((line, f"changed by `{_OPS.get(type(node.op), 'an augmented assignment')}`{where}", node))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name \
                and not scoped:
            sites.append((line, f"an annotated assignment{where}", node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name \
                and not scoped:
            sites.append((line, f"defined by `{'class' if isinstance(node, ast.ClassDef) else 'def'}`", node))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*" and not scoped:
                    other.append(Refusal(f"`from {node.module} import *` may define {name}", line))
                elif (alias.asname or alias.name.split(".")[0]) == name and not scoped:
                    sites.append((line, "imported (pyinfra leaves imported names out of group data)", node))
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
            sites.append((line, "declared global in a function, which may assign it", node))
        elif isinstance(node, ast.Name) and node.id == name and id(node) not in targets:
            if isinstance(node.ctx, ast.Load) and not scoped:
                other.append(Refusal(f"{name} is read by the module's own code{_quote(node, text, True)}; values "
                                     "computed from it would change with it", line))
            elif isinstance(node.ctx, (ast.Store, ast.Del)) and not scoped:
                kind = "deleted (`del`)" if isinstance(node.ctx, ast.Del) else \
                    f"bound by a `{block}` statement" if block else "bound by a comprehension"
                sites.append((line, kind, node))
        elif isinstance(node, ast.NamedExpr) and node.target.id == name and not scoped:
            sites.append((line, "assigned by `:=`", node))
        elif isinstance(node, ast.ExceptHandler) and node.name == name and not scoped:
            sites.append((line, "bound by `except ... as`", node))
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name == name and not scoped:
            sites.append((line, "bound by a `case` pattern", node))
        elif _writes_namespace(node) and not scoped:
            other.append(Refusal(f"the module writes its own namespace ({_quote(node, text).strip()}), which "
                                 f"may set {name}", line))
    return sites, other


def _writes_namespace(node: ast.AST) -> bool:
    def namespace(n):
        return isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in NAMESPACE_CALLS
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return namespace(node.value)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
        and node.func.attr in NAMESPACE_WRITES and namespace(node.func.value)


def assignment(tree: ast.Module, name: str, text: str) -> ast.Assign | None:
    """The module's one plain top-level `name = <literal>`, or None when nothing binds `name`.
    Raises Refusal for any other way of binding it, for a read of it, and for code that may set it."""
    sites, other = _bindings(tree, name, text)
    if len(sites) > 1:
        listed = ", ".join(f"line {line}: {'`=`' if what == '=' else what}" for line, what, _ in sites)
        raise Refusal(f"{name} is assigned more than once ({listed}); only a module with one plain "
                      f"`{name} = [...]` can be rewritten exactly")
    if sites and sites[0][1] != "=":
        line, what, node = sites[0]
        quoted = f" ({_quote(node, text).strip()})" if _quote(node, text) else ""
        raise Refusal(f"{name} is {what}{quoted}, not one plain `{name} = [...]`; rewriting it would drop "
                      "that code", line)
    last = sites[0][2].end_lineno if sites else None
    for refusal in other:
        star = refusal.reason.startswith("`from ")
        if not star or last is None or (refusal.line or 0) > last:
            raise refusal
    if not sites:
        return None
    node = sites[0][2]
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        kind = {ast.Call: "a call", ast.ListComp: "a comprehension", ast.Name: "another name",
                ast.BinOp: "an expression", ast.IfExp: "a conditional"}.get(type(node.value), "code")
        raise Refusal(f"{name} is computed ({kind}:{_quote(node.value, text)}), not written as a literal; "
                      "rewriting it would drop that code", node.lineno) from None
    return node


def _imported(tree: ast.Module) -> set[str]:
    """Names pyinfra leaves out of group data: those bound by the module's top-level imports."""
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"}
    return out


def _shown(value) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return f"<{type(value).__name__}>" if " at 0x" in text else text


def _group_size(value) -> int | None:
    """pyinfra's test for a host group (a list of names or (name, data) tuples, or (that list, data)):
    how many hosts, or None when `value` is no group."""
    if isinstance(value, tuple) and value:
        value = value[0]
    if not isinstance(value, list) or not all(isinstance(item, (str, tuple)) for item in value):
        return None
    return len(value)


def run(path, text: str, name: str) -> dict[str, str]:
    """repr() of each value pyinfra would read from the module as group data, by name, from a fresh
    run with the inventory loader's time limit. Refusal when it does not run, holds hosts, or its
    `__all__` leaves `name` out."""
    from migfleet.inventory.schema import _schemas      # the data keys migfleet knows (jsonschema: loaded late)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        raise Refusal(f"does not parse ({getattr(exc, 'msg', exc)})", getattr(exc, "lineno", None)) from None
    found: dict = {"__file__": str(path)}
    try:
        with contextlib.redirect_stdout(sys.stderr), _time_limit(_limit()):
            exec(compile(tree, str(path), "exec"), found)
    except (Exception, SystemExit, _TooSlow) as exc:
        where = _where(exc, str(path)).rpartition(":")[2]
        raise Refusal(f"does not run ({_describe(exc)}); fix it first", int(where) if where.isdigit() else None) \
            from None
    keys = found["__all__"] if "__all__" in found else [k for k in found if k not in _imported(tree)]
    try:
        keys = [k for k in keys if isinstance(k, str)]
    except TypeError:
        raise Refusal("its __all__ is not a list of names") from None
    data = {k: found[k] for k in keys if not k.startswith("__") and k in found}
    if "__all__" in found and name not in keys:
        raise Refusal(f"its __all__ leaves out {name}, so pyinfra would not read it; add {name!r} to __all__")
    declared = _schemas()[1]
    for key, value in data.items():
        size = _group_size(value)
        if key == "hosts" or (size and not key.startswith("_") and key not in declared):
            hosts = f"{size} host(s)" if size is not None else "hosts"
            raise Refusal(f"holds hosts (host group {key}: {hosts}): it is an inventory file, not group data; "
                          f"{name} goes in the group data module of a group, e.g. group_data/{key}.py")
    return {k: _shown(v) for k, v in data.items()}
