# A rule that neither disables MIG nor lists instances.
# expect: gpu-01.invalid: $.mig_layout[0]: 'instances' is a required property
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all"}]}),
]
