"""A100-SXM4-80GB hosts: GPUs 0-3 split for a mix of model sizes, GPUs 4-7 as two halves.

Change: the layouts to the models served. Every layout is checked against the A100-80GB geometry
before any host is contacted (`python -m migfleet validate ...`).
"""

# The GPUs of every host of the group, in index order, as nvidia-smi prints them.
gpu_models = ["NVIDIA A100-SXM4-80GB"] * 8

mig_layout = [
    {"gpus": [0, 1, 2, 3],
     "instances": [{"profile": "3g.40gb", "count": 1},
                   {"profile": "2g.20gb", "count": 1},
                   {"profile": "1g.10gb", "count": 2}]},
    {"gpus": [4, 5, 6, 7],
     "instances": [{"profile": "3g.40gb", "count": 2}]},
]

# These hosts may reboot when a GPU reset is refused (NVLink peers busy, for instance); the boot
# unit applies the layout before docker starts.
mig_reboot_policy = "if_reset_fails"
