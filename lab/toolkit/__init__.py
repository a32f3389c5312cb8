"""Simulated container side of the NVIDIA container toolkit (package `nvidia-container-toolkit`).

`spec`, `runtime`, `hook` and `ctk` are installed on lab hosts as /usr/lib/nvidia-container-toolkit/nvctk/
and need only the Python standard library; `deb` builds the packages.
"""
