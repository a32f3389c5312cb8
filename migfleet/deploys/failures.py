"""Why each host of a run failed, and the run's last word when pyinfra stops it for want of hosts.

pyinfra ends a run whose last active host fails by raising "No hosts remaining!" from
`State.fail_hosts`, which its command line prints as an error *in the file that failed the host*
(migfleet's own deploy code), with no word of why each host failed. migfleet fails hosts in one
place (deploys.context.fail_host), so it keeps each host's reason here, per run, and when pyinfra
stops the run it raises `RunStopped` instead: the same pyinfra error, with the same message, to the
API and to deploy files (a PyinfraError), which pyinfra's command line shows, after it has
disconnected, as the summary: one line per failed host, with no file, line or traceback.
"""
from __future__ import annotations

import weakref

from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import StateStage
from pyinfra_cli.exceptions import CliError

# pyinfra State -> {host name: why migfleet failed it}; a run's reasons go with its State.
_reasons: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_watched: weakref.WeakSet = weakref.WeakSet()       # States whose fail_hosts is wrapped (`watch`)

# Hosts pyinfra failed itself (a connection or fact error it has already printed).
BY_PYINFRA = "failed by pyinfra (its error is above)"


class RunStopped(CliError, PyinfraError):
    """pyinfra stopped the run: no host left, or more failed than its fail percent allows. Its message
    is pyinfra's own (what pyinfra's API and deploy files have always seen); `summary` adds each failed
    host and why, one line each.

    A CliError, so pyinfra's command line re-raises it as is, and click shows it (`show`), after pyinfra
    has disconnected, as the run's last lines; a PyinfraError, so pyinfra handles it as before."""

    def __init__(self, message: str, summary: str):
        super().__init__(message)
        self.summary = summary

    def show(self, file=None) -> None:
        logger.warning(self.summary)


def reasons(state) -> dict[str, str]:
    """{host name: why} for the hosts this run failed through `fail`."""
    return dict(_reasons.get(state, {}))


def summary(state, stopped_by: str) -> str:
    """The run's last word: pyinfra's reason, whether anything ran, then one line per failed host."""
    why = _reasons.get(state, {})
    failed = [h for h in state.inventory if h in state.failed_hosts]     # inventory order
    what = "Every host failed" if not state.active_hosts else f"{len(failed)} host(s) failed"
    ran = ", no operation was run" if state.current_stage <= StateStage.Prepare else ""
    lines = [f"--> {what}{ran} ({stopped_by}):"]
    for host in failed:
        reason = " ".join(why.get(host.name, BY_PYINFRA).split())     # one line, whatever it held
        lines.append(f"    {host.name}: {reason}")
    return "\n".join(lines)


def watch(state) -> None:
    """From now on, pyinfra stopping this run (its `State.fail_hosts` raising, wherever a host failed:
    here, in a fact, in an operation) raises RunStopped instead, with the summary. pyinfra offers no
    hook there, so the State's method is wrapped, once per run."""
    if state in _watched:
        return
    _watched.add(state)
    fail_hosts = state.fail_hosts

    def fail_hosts_or_stop(hosts_to_fail, activated_count=None):
        try:
            fail_hosts(hosts_to_fail, activated_count)
        except RunStopped:
            raise
        except PyinfraError as e:
            raise RunStopped(str(e), summary(state, str(e))) from None

    state.fail_hosts = fail_hosts_or_stop


def fail(state, host, reason: str) -> None:
    """Fail `host` (a pyinfra Host) for `reason`, kept for the summary; other hosts go on. Where that
    leaves pyinfra no host to go on with (or too few), raises RunStopped."""
    _reasons.setdefault(state, {}).setdefault(host.name, reason)      # the first reason is the cause
    watch(state)
    state.fail_hosts({host})
