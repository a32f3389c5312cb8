"""Plain `nvidia-smi` (the summary table), laid out like driver 580's."""
from __future__ import annotations

import time

from lab.nvsim import engine

RULE = "+-----------------------------------------------------------------------------------------+"
GPU_RULE = "+-----------------------------------------+------------------------+----------------------+"
HEAD = """| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|                                         |                        |               MIG M. |
|=========================================+========================+======================|"""
PROC_HEAD = """| Processes:                                                                              |
|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |
|        ID   ID                                                               Usage      |
|=========================================================================================|"""


def render(state: dict, gpus: list[dict], now: float | None = None) -> str:
    out = [time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now)) + "       ", RULE,
           f"| NVIDIA-SMI {state['driver_version']}             Driver Version: {state['driver_version']}"
           f"     CUDA Version: 13.0     |", GPU_RULE, HEAD]
    for gpu in gpus:
        geo = engine.geometry(gpu)
        cap = 400 if geo.architecture == "Ampere" else 700
        used = sum(p.get("used_memory_mib", 0) for p in state["processes"] if p["gpu_uuid"] == gpu["uuid"])
        mem = f"{used}MiB / {geo.memory_mib:>6}MiB"
        mig = "Enabled" if gpu["mig_current"] else "Disabled"
        out += [f"|{gpu['index']:>4}  {gpu['model']:<31}On  |   {gpu['pci_bus_id']} Off |{'0':>21} |",
                f"| N/A   40C    P0{f'70W / {cap:>4}W':>24} |{mem:>23} |{'0%':>8}{'Default':>13} |",
                f"|{'':41}|{'':24}|{mig:>21} |", GPU_RULE]
    out += ["", RULE, PROC_HEAD]
    by_uuid = {g["uuid"]: g for g in gpus}
    procs = [p for p in state["processes"] if p["gpu_uuid"] in by_uuid]
    if not procs:
        out.append("|  No running processes found                                                             |")
    for p in procs:
        gpu = by_uuid[p["gpu_uuid"]]
        gi = str(p["gi_id"]) if gpu["mig_current"] and p.get("gi_id") is not None else "N/A"
        ci = str(p["ci_id"]) if gpu["mig_current"] and p.get("ci_id") is not None else "N/A"
        name = p["name"] if len(p["name"]) <= 34 else "..." + p["name"][-31:]
        out.append(f"|{gpu['index']:>5}{gi:>5}{ci:>5}{p['pid']:>17}{'C':>7}   {name:<34}"
                   f"{str(p.get('used_memory_mib', 0)) + 'MiB':>10} |")
    out.append(RULE)
    return "\n".join(out) + "\n"
