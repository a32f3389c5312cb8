# A layout without gpu_models was never fitted; now gpu_models is required.
# expect: gpu-01.invalid: $.gpu_models: required with a mig_layout: list the product names of the host's GPUs in index order, as nvidia-smi prints them (or run validate --live to read them from the hosts)
hosts = [
    ("gpu-01.invalid", {"mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}]}),
]
