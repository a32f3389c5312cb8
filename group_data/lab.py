"""The lab's MIG layouts, one rule per simulated GPU model (hosts get models round robin)."""

mig_layout = [
    {"gpus": {"model": "NVIDIA A100-SXM4-40GB"},
     "instances": [{"profile": "1g.5gb", "count": 7}]},
    {"gpus": {"model": "NVIDIA A100-SXM4-80GB"},
     "instances": [{"profile": "3g.40gb", "count": 1},
                   {"profile": "2g.20gb", "count": 1},
                   {"profile": "1g.10gb", "count": 2}]},
    {"gpus": {"model": "NVIDIA H100 80GB HBM3"},
     "instances": [{"profile": "3g.40gb", "count": 2}]},
    {"gpus": {"model": "NVIDIA H200"},
     "instances": [{"profile": "3g.71gb", "count": 2}]},
]

# Lab resets never need a reboot, but a refused one (nvsim-ctl) may use it to test the boot unit.
mig_reboot_policy = "if_reset_fails"
