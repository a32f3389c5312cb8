# Booleans are not GPU indexes.
# expect: gpu-01.invalid: $.mig_layout[0].gpus[0]: True is not of type 'integer'
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": [True], "mig": False}]}),
]
