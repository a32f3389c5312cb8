# A profile ID no GPU model has.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].profile: profile 99 is not a MIG profile of any known GPU model
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": 99}]}]}),
]
