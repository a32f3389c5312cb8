"""pyinfra settings for migfleet deploys (read by the pyinfra CLI from the working directory)."""

REQUIRE_PYINFRA_VERSION = ">=3.10,<4"

# Hosts are reached as root (the lab) or with a user that may run nvidia-smi and docker without a
# prompt; set SUDO = True here (or pass --sudo) for fleets that log in as an unprivileged user.
SUDO = False

# A failed host never stops the others (no percentage limit); rollouts cap it per batch.
FAIL_PERCENT = None

CONNECT_TIMEOUT = 15

# paramiko's transport wakes every 0.1 s per connection while it waits for a host, to check whether
# it was closed (Transport._active_check_timeout; closing needs no wake-up: it closes the socket).
# Across a fleet those wake-ups are most of the deploy machine's CPU while hosts work: once a second
# is enough (docs/SCALE.md, "Fixes").
import paramiko  # noqa: E402

paramiko.Transport._active_check_timeout = 1.0
