"""`python -m migfleet COMMAND ...`: the `migfleet` command (migfleet.cli)."""
from migfleet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
