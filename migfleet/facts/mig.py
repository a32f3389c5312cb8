"""pyinfra facts over nvidia-smi alone. Thin: the command comes from, and the text goes to, `mig.smi`.

The deploy reads the snapshot as part of facts.host.HostState; MigSnapshot is read again only where a
GPU did something other than planned (a refused reset, a reboot).
"""
from __future__ import annotations

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from migfleet.mig import smi
from migfleet.mig.geometry import Geometry
from migfleet.mig.state import GpuState

class MigSnapshot(FactBase[dict]):
    """Every GPU of the host, keyed by UUID in index order (`smi.parse_snapshot`); one round trip."""

    def command(self) -> str:
        return smi.SNAPSHOT_COMMAND

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output: list[str]) -> dict[str, GpuState]:
        try:
            return smi.parse_snapshot("\n".join(output))
        except smi.ParseError as e:
            raise FactProcessError(str(e)) from e


class MigGeometry(FactBase):
    """MIG geometry of one GPU read off the host; only asked for models missing from the catalog."""

    def command(self, gpu_index: int) -> str:
        return smi.geometry_command(gpu_index)

    def process(self, output: list[str]) -> Geometry:
        try:
            return smi.parse_geometry("\n".join(output))
        except smi.ParseError as e:
            raise FactProcessError(str(e)) from e
