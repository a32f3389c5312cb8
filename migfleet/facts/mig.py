"""pyinfra facts over nvidia-smi. Thin: the command comes from, and the text goes to, `parsers`."""
from __future__ import annotations

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from migfleet.mig import smi as parsers
from migfleet.mig.geometry import Geometry
from migfleet.mig.state import GpuState

_GEOMETRY_SECTIONS = ("query", "lgip", "lgipp")


class MigSnapshot(FactBase[dict]):
    """Every GPU of the host, keyed by UUID in index order (`parsers.parse_snapshot`); one round trip."""

    def command(self) -> str:
        return parsers.SNAPSHOT_COMMAND

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output: list[str]) -> dict[str, GpuState]:
        try:
            return parsers.parse_snapshot("\n".join(output))
        except parsers.ParseError as e:
            raise FactProcessError(str(e)) from e


def geometry_command(gpu_index: int) -> str:
    """`--query-gpu` (model, memory), `mig -lgip` and `mig -lgipp` of one GPU in one round trip."""
    idx = int(gpu_index)
    commands = {
        "query": f"nvidia-smi -i {idx} --query-gpu=" + ",".join(parsers.QUERY_FIELDS)
                 + " --format=csv,noheader,nounits",
        "lgip": f"nvidia-smi mig -i {idx} -lgip",
        "lgipp": f"nvidia-smi mig -i {idx} -lgipp",
    }
    return " ".join(f"echo '{parsers.MARK} {name}'; {commands[name]} 2>&1; echo \"{parsers.MARK} rc=$?\";"
                    for name in _GEOMETRY_SECTIONS) + " exit 0"


def parse_geometry_output(text: str) -> Geometry:
    """Output of `geometry_command(i)` -> GPU i's Geometry (raises parsers.ParseError)."""
    sections: dict[str, list[str]] = {}
    codes: dict[str, int] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith(parsers.MARK + " "):
            word = line[len(parsers.MARK) + 1:].strip()
            if word.startswith("rc=") and current is not None:
                codes[current] = int(word[3:])
                current = None
            elif current is None and word in _GEOMETRY_SECTIONS:
                current = word
                sections[word] = []
            else:
                raise parsers.ParseError("MIG geometry listing", line, "unexpected section marker")
        elif current is not None:
            sections[current].append(line)
        elif line.strip():
            raise parsers.ParseError("MIG geometry listing", line, "output outside any section")
    for name in _GEOMETRY_SECTIONS:
        if name not in codes:
            raise parsers.ParseError("MIG geometry listing", text.strip()[-200:], f"missing section {name}")
        if codes[name] != 0:
            body = "\n".join(sections[name]).strip()
            raise parsers.ParseError(f"nvidia-smi {name} listing", body[:200],
                                     f"exit code {codes[name]}")
    rows = parsers.parse_query_gpu("\n".join(sections["query"]))
    if len(rows) != 1:
        raise parsers.ParseError("nvidia-smi --query-gpu of one GPU",
                                 "\n".join(sections["query"])[:200], "expected exactly one GPU")
    return parsers.geometry_from_lgip("\n".join(sections["lgip"]), "\n".join(sections["lgipp"]),
                                      model=rows[0].name, memory_mib=rows[0].memory_mib or 0,
                                      gpu=rows[0].index)


class MigGeometry(FactBase):
    """MIG geometry of one GPU read off the host; only asked for models missing from the catalog."""

    def command(self, gpu_index: int) -> str:
        return geometry_command(gpu_index)

    def process(self, output: list[str]) -> Geometry:
        try:
            return parse_geometry_output("\n".join(output))
        except parsers.ParseError as e:
            raise FactProcessError(str(e)) from e


class ContainerPids(FactBase[frozenset]):
    """PIDs of every process inside the running containers carrying `label` (e.g. migfleet.role=triton),
    found through their cgroups; empty without docker. The MIG planner ignores these as "ours"."""

    def command(self, label: str) -> str:
        quoted = "'" + label.replace("'", "'\\''") + "'"
        return ("command -v docker >/dev/null 2>&1 || exit 0; "
                f"for id in $(docker ps -q --no-trunc --filter label={quoted}); do "
                'grep -l "$id" /proc/[0-9]*/cgroup 2>/dev/null; done | cut -d/ -f3 | sort -un')

    @staticmethod
    def default() -> frozenset:
        return frozenset()

    def process(self, output: list[str]) -> frozenset:
        bad = [line for line in output if not line.strip().isdigit()]
        if bad:
            raise FactProcessError(f"cannot parse container PIDs: unexpected line {bad[0]!r}")
        return frozenset(int(line) for line in output)
