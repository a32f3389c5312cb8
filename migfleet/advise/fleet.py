"""Many hosts at once: each solved on its own (a host's Envoy spreads its demand over its own
instances only), so hosts go to a pool of processes, one per core unless told otherwise; hosts
whose problems are identical (the same GPUs and today's layout, demand, memory and capacity) are
solved once.

A host whose problem cannot be solved is returned as a Failure naming it and why; the other hosts
are still solved.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import wait

from migfleet.advise.problem import HostProblem, HostResult
from migfleet.advise.program import SolveError
from migfleet.advise.solve import Tuning, settle_today, solve_host


@dataclass(frozen=True)
class Failure:
    host: str
    reason: str         # one line, starting with the host's name


def problem_key(problem: HostProblem) -> tuple:
    """What the answer depends on, without the host's name, GPU indexes or UUIDs."""
    cap = problem.capacity
    models = sorted({g.geometry.model for g in problem.gpus})
    tables = tuple((m, tuple(sorted((name, e.memory_mib, tuple(sorted(e.rps.items())))
                                    for name, e in cap.profiles(m).items()))) for m in models)
    memory = tuple(sorted((m, v) for m, v in problem.memory.items() if m in problem.universe))
    return (tuple((g.geometry.model, g.today) for g in problem.gpus), tuple(sorted(problem.demand.items())),
            memory, problem.headroom, problem.keep, tables)


def _one(args) -> HostResult | Failure:
    problem, time_limit, tuning = args
    try:
        return solve_host(problem, time_limit, tuning=tuning)
    except SolveError as exc:
        return Failure(problem.host, f"{problem.host}: {exc}")
    except (ValueError, ArithmeticError) as exc:     # numbers the solver cannot take (e.g. rates near overflow)
        return Failure(problem.host, f"{problem.host}: cannot be solved: {exc}")


def _as(result: HostResult, problem: HostProblem) -> HostResult:
    """A result solved for an identical problem, told for this host."""
    settled, notes = settle_today(problem)
    return replace(result, problem=settled, notes=notes)


def _serve(conn) -> None:
    """A worker: jobs in, results out, until told to stop (None)."""
    os.set_blocking(conn.fileno(), True)        # a parent under gevent hands its end over non-blocking
    while True:
        job = conn.recv()
        if job is None:
            break
        i, args = job
        conn.send((i, _one(args)))
    conn.close()


def _pool(jobs: list[tuple], workers: int) -> list[HostResult | Failure]:
    """Jobs over worker processes, one job at a time each (hosts take very different times). Pipes
    and processes only, no threads: pyinfra's inventory loading leaves gevent's patches on
    threading, under which a thread pool can wait forever."""
    ctx = multiprocessing.get_context("spawn")      # HiGHS may hold threads: never fork them
    procs, current = [], {}
    queue = list(enumerate(jobs))
    queue.reverse()
    out: list = [None] * len(jobs)
    for _ in range(min(workers, len(jobs))):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        proc.start()
        child.close()
        procs.append((proc, parent))
        current[parent] = queue.pop()
        parent.send(current[parent])
    while current:
        for conn in wait(list(current)):
            i, args = current.pop(conn)
            try:
                got, result = conn.recv()
            except (EOFError, OSError):
                out[i] = Failure(args[0].host, f"{args[0].host}: the process solving it ended before it answered")
                continue
            out[got] = result
            if queue:
                current[conn] = queue.pop()
                conn.send(current[conn])
    for proc, conn in procs:
        try:
            conn.send(None)
        except OSError:
            pass
        conn.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    return out


def workers_default() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def solve_hosts(problems: Sequence[HostProblem], time_limit: float | None = None, workers: int | None = None,
                cache: bool = True, tuning: Tuning = Tuning()) -> list[HostResult | Failure]:
    """One result per problem, in order. workers: processes (default: one per core; 1 solves here,
    one host after the other); cache: solve identical problems once."""
    workers = workers_default() if workers is None else max(1, int(workers))
    first: dict[tuple, int] = {}
    todo: list[int] = []
    same_as: list[int] = []
    for i, p in enumerate(problems):
        k = problem_key(p) if cache else i
        if k not in first:
            first[k] = i
            todo.append(i)
        same_as.append(first[k])
    # The largest hosts first, so that no worker is left with a big one at the end.
    todo.sort(key=lambda i: -len(problems[i].gpus))
    jobs = [(problems[i], time_limit, tuning) for i in todo]
    if workers == 1 or len(jobs) <= 1:
        answers = [_one(j) for j in jobs]
    else:
        answers = _pool(jobs, workers)
    solved = dict(zip(todo, answers))
    out: list[HostResult | Failure] = []
    for i, p in enumerate(problems):
        r = solved[same_as[i]]
        if same_as[i] != i:     # a failure is not shared: the host is tried on its own
            r = _one((p, time_limit, tuning)) if isinstance(r, Failure) else _as(r, p)
        out.append(r)
    return out
