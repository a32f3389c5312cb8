# A huge count is refused before anything is expanded.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0]: GPU 0: too many 1g.5gb instances: 1000000000000 of 7 on NVIDIA A100-SXM4-40GB
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 10**12}]}]}),
]
