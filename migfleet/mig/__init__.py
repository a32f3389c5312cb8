"""MIG core, standard library only: geometry, catalog, live state, desired and placed layouts, fit,
plan, the boot record and the nvidia-smi protocol. Nothing here imports pyinfra. Every module is
pure (values in, values out; the catalog reads its JSON file) except `boot`, which runs nvidia-smi
through `sh -c` when the host replays its boot record (`python3 -m migfleet.mig.boot`): the host
runs this same code."""
