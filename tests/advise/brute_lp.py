"""The linear program of tests/advise/brute.py: the most requests/s a choice of instances serves."""
from __future__ import annotations

import numpy as np

try:        # HiGHS itself, without linprog's checks (they cost ten times the solve on these tiny programs)
    import scipy.optimize._highspy._core as _highs
except ImportError:         # pragma: no cover - another scipy layout: linprog, same answer, slower
    _highs = None
from scipy.optimize import linprog


def most_served(rates: list[float], rows: list[tuple[int, int]], upper: list[float]) -> float:
    """max sum(rates[j] * x[j]) over x >= 0 where column j has 1 in row rows[j][0] and rates[j] in
    row rows[j][1], and each row i sums to at most upper[i]."""
    n, m = len(rates), len(upper)
    if _highs is None:
        a = np.zeros((m, n))
        for j, ((t, r), rate) in enumerate(zip(rows, rates)):
            a[t, j], a[r, j] = 1.0, rate
        return -float(linprog(-np.array(rates), A_ub=a, b_ub=upper, bounds=(0, None), method="highs").fun)
    lp = _highs.HighsLp()
    lp.num_col_ = lp.a_matrix_.num_col_ = n
    lp.num_row_ = lp.a_matrix_.num_row_ = m
    lp.a_matrix_.format_ = _highs.MatrixFormat.kColwise
    lp.col_cost_ = np.array(rates, dtype=float)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.full(n, np.inf)
    lp.row_lower_ = np.full(m, -np.inf)
    lp.row_upper_ = np.array(upper, dtype=float)
    lp.a_matrix_.start_ = np.arange(0, 2 * n + 1, 2, dtype=np.int32)
    lp.a_matrix_.index_ = np.array([i for pair in rows for i in pair], dtype=np.int32)
    lp.a_matrix_.value_ = np.array([v for rate in rates for v in (1.0, rate)], dtype=float)
    lp.sense_ = _highs.ObjSense.kMaximize
    h = _highs._Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != _highs.HighsModelStatus.kOptimal:
        raise AssertionError(f"HiGHS: {h.modelStatusToString(h.getModelStatus())}")
    return float(h.getInfo().objective_function_value)
