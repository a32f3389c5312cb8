# A rule with "mig": "no" is one error, not also a missing instances list.
# expect: gpu-01.invalid: $.mig_layout[0].mig: 'no' is not of type 'boolean'
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "mig": "no"}]}),
]
