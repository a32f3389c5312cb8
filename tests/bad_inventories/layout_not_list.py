# mig_layout given as one rule instead of a list.
# expect: gpu-01.invalid: $.mig_layout: {'gpus': 'all', 'mig': False} is not of type 'array'
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": {"gpus": "all", "mig": False}}),
]
