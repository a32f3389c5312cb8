"""pyinfra operations of migfleet (`mig`: MIG layouts per GPU)."""
