# A profile ID of another model.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].profile: profile 21 is not a MIG profile of any known GPU model
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"], "mig_layout": [{"gpus": "all", "instances": [{"profile": 21}]}]}),
]
