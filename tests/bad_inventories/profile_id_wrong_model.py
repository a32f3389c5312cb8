# A profile ID of another model.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].profile: GPU 0: profile 21 does not exist on NVIDIA H100 80GB HBM3; its profiles are 1g.10gb (ID 19), 1g.10gb+me (ID 20), 1g.20gb (ID 15), 2g.20gb (ID 14), 3g.40gb (ID 9), 4g.40gb (ID 5), 7g.80gb (ID 0)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"], "mig_layout": [{"gpus": "all", "instances": [{"profile": 21}]}]}),
]
