"""A100-SXM4-40GB hosts (8 GPUs each): seven 1g.5gb instances on every GPU, one Triton each."""

# The GPUs of every host of the group, in index order, as nvidia-smi prints them: layouts are
# fitted against this model's geometry before any host is contacted. A host that differs sets
# its own gpu_models (`python -m migfleet validate --live ...` compares them with the hosts).
gpu_models = ["NVIDIA A100-SXM4-40GB"] * 8

mig_layout = [
    {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]},
]
