# A compute profile ID the GPU instance does not offer.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].compute.profile: GPU 0: compute profile 4 does not exist in a 2g.10gb GPU instance; its compute profiles are 1c.2g.10gb (ID 0), 2g.10gb (ID 1)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "2g.10gb", "compute": {"profile": 4}}]}]}),
]
