"""MIG core, standard library only: geometry, catalog, live state, desired and placed layouts, fit,
plan, the boot record and the nvidia-smi protocol. Nothing here imports pyinfra or does I/O,
so the boot-time replay on a host runs this same code."""
