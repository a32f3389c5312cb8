# A compute profile of another GPU instance profile.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].compute.profile: GPU 0: compute profile '1c.4g.20gb' does not exist in a 3g.20gb GPU instance; its compute profiles are 1c.3g.20gb (ID 0), 2c.3g.20gb (ID 1), 3g.20gb (ID 2)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.20gb", "compute": {"profile": "1c.4g.20gb"}}]}]}),
]
