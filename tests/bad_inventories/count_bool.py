# True is not a count.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].count: True is not of type 'integer'
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": True}]}]}),
]
