"""The trees migfleet syncs, as the host read sees them against their manifests.

Every tree sync ends by writing a manifest of what it put there (relative path, size, mtime as the
host sees them after the upload, sha256), kept outside the tree (Triton's model repository gets no
stray file). The host read lists each tree's files with size and mtime and hashes only those that
differ from the manifest, so a converged host costs a directory walk, not a read of every byte.
The host may have no Python yet: the read is POSIX sh, GNU find, awk and sha256sum.

Manifest lines: `<size> <mtime> <sha256> <path>` (mtime as GNU find's %T@), one per file, after one
`#` header line; the path is the rest of the line.
"""
from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from migfleet import bytecode

MANIFEST_DIR = "/var/lib/migfleet/manifests"
# Python's byte code beside migfleet's host-side code is not synced, and a name holding a newline
# cannot be one manifest line: both are invisible to the sync (never listed, never deleted).
FIND_FILES = (f"find . -type f {bytecode.FIND_NOT_CACHE} ! -name " + shlex.quote("*\n*")
              + " -printf '%s %T@ %P\\n'")

# stdin: find's "<size> <mtime> <path>" lines; -v d=TREE -v m=MANIFEST. Prints "manifest yes|no", then one
# line per file: "= " as the manifest says (its digest), "~ " listed but size or mtime changed
# (hashed now), "+ " not listed (hashed only where the tree has no manifest yet: what a sync can
# adopt; beside a manifest, a file migfleet did not write is never read), "- " listed but gone.
# (mtimes compare as strings: as numbers, awk's doubles cannot tell nanoseconds apart)
_READ = r"""
function q(s) { gsub(/'/, "'\"'\"'", s); return "'" s "'" }
function hash(p,   c, out) {
  c = "sha256sum -- " q(d "/" p) " 2>/dev/null"; out = ""; c | getline out; close(c); sub(/^\\/, "", out)
  return length(out) >= 64 ? substr(out, 1, 64) : "?"
}
BEGIN {
  have = 0
  while ((getline line < m) > 0) {
    have = 1
    if (line ~ /^#/ || split(line, f, " ") < 4) continue
    p = substr(line, length(f[1]) + length(f[2]) + length(f[3]) + 4)
    ms[p] = f[1]; mt[p] = f[2]; md[p] = f[3]
  }
  print "manifest " (have ? "yes" : "no")
}
{
  p = substr($0, length($1) + length($2) + 3)
  if (p in md) {
    seen[p] = 1
    if (ms[p] == $1 && (mt[p] "") == ($2 "")) print "= " $1 " " $2 " " md[p] " " p
    else print "~ " $1 " " $2 " " hash(p) " " p
  } else print "+ " $1 " " $2 " " (have ? "-" : hash(p)) " " p
}
END { for (p in md) if (!(p in seen)) print "- " ms[p] " " mt[p] " " md[p] " " p }
"""

# stdin: find's lines; the want file: "<sha256> <path>" lines. Prints the manifest lines of the
# wanted files present (size and mtime as the host sees them now).
_WRITE = r"""
FILENAME == w { d[substr($0, 66)] = substr($0, 1, 64); next }
{ p = substr($0, length($1) + length($2) + 3); if (p in d) print $1, $2, d[p], p }
"""


def manifest_path(tree: str, manifest_dir: str = MANIFEST_DIR) -> str:
    """One manifest per tree, named from its path (readable, and unique by the path's digest)."""
    norm = posixpath.normpath(tree)
    name = norm.strip("/").replace("/", "_") or "root"
    return f"{manifest_dir}/{name}-{hashlib.sha256(norm.encode()).hexdigest()[:8]}.manifest"


def read_command(trees: Sequence[str], manifest_dir: str = MANIFEST_DIR) -> str:
    """The host read's trees section: "== TREE" then what _READ prints, per tree (what cannot be read,
    an unreadable folder of files migfleet did not write, is left out, not an error)."""
    parts = [f"a={shlex.quote(_READ)}"]
    for d in trees:
        parts.append(f"echo {shlex.quote('== ' + d)}; (cd {shlex.quote(d)} 2>/dev/null && {FIND_FILES} 2>/dev/null) "
                     f"| awk -v d={shlex.quote(d)} -v m={shlex.quote(manifest_path(d, manifest_dir))} \"$a\"")
    return "; ".join(parts) + "; true"


def write_command(tree: str, want_file: str, manifest: str) -> str:
    """Writes `manifest` (temp + rename) from the want file (uploaded beside it), then removes that."""
    tmp = f"{manifest}.tmp"
    header = f"# migfleet manifest of {tree}: size mtime sha256 path"
    return (f"cd {shlex.quote(tree)} && {{ echo {shlex.quote(header)}; {FIND_FILES} | "
            f"awk -v w={shlex.quote(want_file)} {shlex.quote(_WRITE)} {shlex.quote(want_file)} -; }} "
            f"> {shlex.quote(tmp)} && mv {shlex.quote(tmp)} {shlex.quote(manifest)} && rm -f {shlex.quote(want_file)}")


@dataclass(frozen=True)
class TreeNow:
    """One synced tree on the host now, against its manifest (paths relative to the tree)."""
    manifest: bool = False                                      # a manifest was found
    written: dict[str, str] = field(default_factory=dict)       # listed, size and mtime as written: sha256
    changed: dict[str, str | None] = field(default_factory=dict)  # listed, size or mtime changed: sha256 now
    foreign: dict[str, str | None] = field(default_factory=dict)  # not listed: sha256, None when not read
    gone: frozenset[str] = frozenset()                          # listed, no longer there

    def digests(self) -> dict[str, str | None]:
        """Every present file: sha256 (None where not read)."""
        return {**self.foreign, **self.changed, **self.written}

    def listed(self) -> set[str]:
        return set(self.written) | set(self.changed) | set(self.gone)


def _sha(value: str, line: str) -> str:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"unexpected digest in tree line {line!r}")
    return value


def parse(body: str) -> dict[str, TreeNow]:
    """The trees section -> {tree: TreeNow}; raises ValueError quoting a line it did not expect."""
    out: dict[str, dict] = {}
    current = None
    for line in body.splitlines():
        if line.startswith("== "):
            current = out.setdefault(line[3:], {"manifest": False, "written": {}, "changed": {}, "foreign": {},
                                                "gone": set()})
            continue
        if not line.strip():
            continue
        if current is None:
            raise ValueError(f"tree line before any tree: {line!r}")
        if line in ("manifest yes", "manifest no"):
            current["manifest"] = line == "manifest yes"
            continue
        parts = line.split(" ", 4)
        if len(parts) != 5 or parts[0] not in ("=", "~", "+", "-") or not parts[1].isdigit() or not parts[4]:
            raise ValueError(f"unexpected tree line {line!r}")
        state, _, _, digest, path = parts
        if state == "=":
            current["written"][path] = _sha(digest, line)
        elif state in ("~", "+"):     # "-": not read; "?": sha256sum could not read it
            current["changed" if state == "~" else "foreign"][path] = (
                None if digest in ("-", "?") else _sha(digest, line))
        else:
            current["gone"].add(path)
    return {d: TreeNow(v["manifest"], v["written"], v["changed"], v["foreign"], frozenset(v["gone"]))
            for d, v in out.items()}
