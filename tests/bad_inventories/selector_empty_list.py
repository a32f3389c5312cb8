# An empty index list.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: [] should be non-empty
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": [], "mig": False}]}),
]
