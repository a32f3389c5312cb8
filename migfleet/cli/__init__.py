"""The `migfleet` command line."""
