"""`--gpus MODEL[:COUNT],...`: GPU models per lab host, assigned round robin over hosts."""
from __future__ import annotations

A100_40 = "NVIDIA A100-SXM4-40GB"
A100_80 = "NVIDIA A100-SXM4-80GB"
H100 = "NVIDIA H100 80GB HBM3"
H200 = "NVIDIA H200"
# Served from the lab's own model data (lab/nvsim/models.json).
H100_NVL = "NVIDIA H100 NVL"
H100_PCIE = "NVIDIA H100 PCIe"
H800 = "NVIDIA H800"
GH200 = "NVIDIA GH200 480GB"
A30 = "NVIDIA A30"
B200 = "NVIDIA B200"
GB200 = "NVIDIA GB200"

_ALIASES = {
    "A100-40GB": A100_40, "A100-SXM4-40GB": A100_40, "A100-40": A100_40,
    "A100-80GB": A100_80, "A100-SXM4-80GB": A100_80, "A100-80": A100_80,
    "H100": H100, "H100-80GB": H100, "H100-80GB-HBM3": H100, "H100-SXM5-80GB": H100,
    "H200": H200, "H200-141GB": H200,
    "H100-NVL": H100_NVL, "H100-94GB": H100_NVL, "H100-PCIE": H100_PCIE, "H800": H800,
    "GH200": GH200, "A30": A30, "A30-24GB": A30, "B200": B200, "GB200": GB200,
}

DEFAULT_SPEC = "A100-40GB,A100-80GB,H100"


def _key(name: str) -> str:
    text = name.strip().upper()
    if text.startswith("NVIDIA "):
        text = text[len("NVIDIA "):]
    return "-".join(text.split())


_BY_KEY = {_key(alias): full for alias, full in _ALIASES.items()}
_BY_KEY.update({_key(full): full for full in _ALIASES.values()})


def model_name(name: str) -> str:
    full = _BY_KEY.get(_key(name))
    if full is None:
        known = ", ".join(sorted(set(_ALIASES) | set(_ALIASES.values())))
        raise ValueError(f"unknown GPU model {name!r}; known: {known}")
    return full


def parse_spec(spec: str) -> list[list[str]]:
    """'A100-40GB:2,H100' -> [['NVIDIA A100-SXM4-40GB']*2, ['NVIDIA H100 80GB HBM3']]: one entry
    per round-robin slot, each the list of GPU models one host gets."""
    slots = []
    for item in spec.split(","):
        if not item.strip():
            raise ValueError(f"empty entry in --gpus {spec!r}")
        model, _, count = item.partition(":")
        if count and not count.strip().isdigit():
            raise ValueError(f"GPU count must be a positive integer in {item!r}")
        n = int(count) if count else 1
        if not 1 <= n <= 16:
            raise ValueError(f"GPU count per host must be 1..16 in {item!r}")
        slots.append([model_name(model)] * n)
    return slots


def models_for_host(slots: list[list[str]], n: int) -> list[str]:
    """Host N (1-based) gets slot (N-1) mod len(slots)."""
    return list(slots[(n - 1) % len(slots)])
