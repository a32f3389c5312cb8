# instances given as a string.
# expect: gpu-01.invalid: $.mig_layout[0].instances: '1g.5gb' is not of type 'array'
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": "1g.5gb"}]}),
]
