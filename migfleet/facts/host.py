"""The one read per host per run, as a pyinfra fact: `HostState`.

The read itself (its shell, its parser, `HostView`) is pure code in `facts.read`, which the host runs
too. Where the deploy machine has a digest of the host's last read (`facts.view_cache`), it asks the
host to compare (`facts.noop_digest`): a host whose live state still gives that digest answers
`unchanged <digest>` and its lock section, and the deploy plans from the view it kept; any other
answers the full read, as without a digest. Operations are handed the parsed `HostView`; none reads
the host again, and what an operation changes is known from the operation itself.
"""
from __future__ import annotations

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from migfleet import sections
from migfleet.facts import noop_digest
from migfleet.facts.read import (  # noqa: F401  (the read's names, where the deploy code has always found them)
    PREREQ_COMMAND, PREREQ_TOOLS, SECTION_NAMES, SYSTEMD_RUNTIME, TOOLKIT_MODULES, HostView, host_command,
    parse_host)
from migfleet.mig import smi


class HostState(FactBase):
    """Everything migfleet decides from, in one round trip (see the module docstring). With `expect`
    (a digest of `noop_digest.view_digest`) and `lib_dir` (where the host keeps migfleet's host code),
    the answer may be `noop_digest.Unchanged` instead of a HostView."""

    def command(self, files=(), trees=(), units=(), packages=(), images=(), daemon_json="/etc/docker/daemon.json",
                services=(), lock="true", expect="", lib_dir=""):
        # process() needs them to read systemctl's per-unit lines
        self.units, self.services = tuple(units), tuple(services)
        command = host_command(files, trees, units, packages, images, daemon_json, services, lock)
        if not expect or not lib_dir:
            return command
        return noop_digest.ask(command, noop_digest.HOST, expect, lib_dir,
                               {"units": list(self.units), "services": list(self.services)})

    def process(self, output: list[str]):
        try:
            if output and output[0].startswith(noop_digest.UNCHANGED):
                return noop_digest.parse_unchanged(output)
            return parse_host("\n".join(output), self.units, self.services)
        except (ValueError, smi.ParseError, sections.SectionError) as e:
            raise FactProcessError(str(e)) from e
