# More compute instances than fit the GPU instance.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].compute.profile: GPU 0: too many 1c.3g.20gb compute instances: 4 of 3 in a 3g.20gb
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.20gb", "compute": {"profile": "1c.3g.20gb", "count": 4}}]}]}),
]
