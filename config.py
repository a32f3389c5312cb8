"""pyinfra settings for migfleet deploys (read by the pyinfra CLI from the working directory)."""

REQUIRE_PYINFRA_VERSION = ">=3.10,<4"

# Hosts are reached as root (the lab) or with a user that may run nvidia-smi and docker without a
# prompt; set SUDO = True here (or pass --sudo) for fleets that log in as an unprivileged user.
SUDO = False

# A failed host never stops the others (no percentage limit); rollouts cap it per batch.
FAIL_PERCENT = None

CONNECT_TIMEOUT = 15
