# A misspelt profile is named even without gpu_models.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].profile: profile '1g.5bg' is not a MIG profile of any known GPU model (did you mean 1g.5gb?)
# expect: gpu-01.invalid: $.gpu_models: required with a mig_layout: list the product names of the host's GPUs in index order, as nvidia-smi prints them (or run validate --live to read them from the hosts)
hosts = [
    ("gpu-01.invalid", {"mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5bg", "count": 7}]}]}),
]
