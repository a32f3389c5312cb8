"""`migfleet advise`: a MIG layout per GPU, and models per instance, sized to measured demand.

demand (Prometheus or a file of its answers) + capacity (a table per profile and model)
  -> layouts (every valid placed layout of a GPU model, from the catalog geometry)
  -> solve (exact, HiGHS through scipy.optimize.milp) -> a proposal per host and GPU.
greedy is a baseline kept for the benchmark and the tests only.
"""
