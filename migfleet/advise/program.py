"""The pieces every advise program shares: a mixed-integer program in scipy's form, built a row at
a time, and solved by HiGHS (scipy.optimize.milp) with HiGHS's own printing kept off stdout.

The per-GPU program (pergpu.py), the class program (classes.py), the solver (solve.py) and the
greedy baseline (greedy.py) all import from here; nothing here imports them.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

TOL = 1e-6


class SolveError(RuntimeError):
    """The solver gave no answer for a host; the message says why (advise names the host)."""


@contextmanager
def stdout_to_stderr():
    """HiGHS writes some lines straight to file descriptor 1, whatever `disp` says: send them to
    stderr, so that stdout holds only migfleet's output (`--json` stays JSON)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):       # no file descriptor 1 (an embedding without one): nothing to guard
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        try:
            sys.stdout.flush()
        except ValueError:
            pass
        os.dup2(saved, 1)
        os.close(saved)


class Program:
    """A MILP in scipy's form: variables with bounds and integrality, rows lo <= a.x <= hi."""

    def __init__(self):
        self.proven = True
        self.lb, self.ub, self.integer = [], [], []
        self.rows, self.cols, self.vals, self.rlo, self.rhi = [], [], [], [], []

    def var(self, lb: float = 0.0, ub: float = 1.0, integer: bool = True) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(1 if integer else 0)
        return len(self.lb) - 1

    def row(self, terms: dict[int, float] | Sequence[tuple[int, float]], lo: float, hi: float) -> None:
        r = len(self.rlo)
        for col, val in (terms.items() if isinstance(terms, dict) else terms):
            self.rows.append(r)
            self.cols.append(col)
            self.vals.append(val)
        self.rlo.append(lo)
        self.rhi.append(hi)

    def solve(self, c: np.ndarray, extra: Sequence[tuple] = (), time_limit: float | None = None) -> np.ndarray | None:
        """Minimise c.x. extra: more rows (coef vector, upper bound), e.g. an earlier level's
        objective held at its optimum, or a bound from a known answer. None: stopped at the time
        limit before any solution."""
        n = len(self.lb)
        rows, cols, vals, rlo, rhi = self.rows, self.cols, self.vals, self.rlo, self.rhi
        for coef, hi in extra:
            nz = np.nonzero(coef)[0]
            r = len(rlo)
            rows, cols, vals = rows + [r] * len(nz), cols + nz.tolist(), vals + coef[nz].tolist()
            rlo, rhi = rlo + [-np.inf], rhi + [hi]
        cons = []
        if rlo:
            a = coo_array((vals, (rows, cols)), shape=(len(rlo), n)).tocsr()
            cons = [LinearConstraint(a, np.array(rlo, dtype=float), np.array(rhi, dtype=float))]
        options = {"mip_rel_gap": 0.0, "disp": False}
        if time_limit:
            options["time_limit"] = time_limit
        with stdout_to_stderr():
            res = milp(c, constraints=cons, integrality=np.array(self.integer), bounds=Bounds(self.lb, self.ub),
                       options=options)
            if res.status == 4:     # "Solve error": HiGHS's presolve fails on a few small programs; solve without it
                res = milp(c, constraints=cons, integrality=np.array(self.integer), bounds=Bounds(self.lb, self.ub),
                           options={**options, "presolve": False})
        self.proven = self.proven and res.status == 0     # 0: optimal; 1: stopped at the time limit
        if res.x is None and res.status != 1:
            raise SolveError(f"the solver found no solution ({res.message})")
        return res.x
