# A misspelt gpu_models: flagged as unknown, and the layout lacks its models.
# expect: gpu-01.invalid: $.gpu_modles: unknown key gpu_modles (did you mean gpu_models?)
# expect: gpu-01.invalid: $.gpu_models: required with a mig_layout: list the product names of the host's GPUs in index order, as nvidia-smi prints them (or run validate --live to read them from the hosts)
hosts = [
    ("gpu-01.invalid", {"gpu_modles": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}]}),
]
