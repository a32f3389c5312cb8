"""What goes wrong reading nvidia-smi: output that does not look like the command's, or no driver."""
from __future__ import annotations

import re

NO_MIG_DEVICES = "No MIG-enabled devices found."
_NOT_FOUND = re.compile(r"^No (GPU|compute) instances found(:.*)?$")


class ParseError(ValueError):
    """Output that does not look like what the command prints; the message quotes it."""

    def __init__(self, what: str, line: str, detail: str = ""):
        self.what, self.line = what, line
        extra = f" ({detail})" if detail else ""
        super().__init__(f"cannot parse {what}: unexpected line {line!r}{extra}")


class DriverUnavailable(ParseError):
    """nvidia-smi is missing or cannot talk to the driver: the GPU state is unknown, not empty."""

    def __init__(self, detail: str):
        self.what, self.line = "nvidia-smi", detail
        ValueError.__init__(self, f"NVIDIA driver unavailable: {detail}")
