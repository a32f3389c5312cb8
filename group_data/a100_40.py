"""A100-SXM4-40GB hosts (8 GPUs each): seven 1g.5gb instances on every GPU, one Triton each."""

mig_layout = [
    {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]},
]
