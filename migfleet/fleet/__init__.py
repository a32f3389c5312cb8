"""Fleet-wide tools over SSH: checks, drift, export, rollout."""
