# A huge count without gpu_models: checked against every known model.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0]: 1000000000000 x 1g.5gb is more than any known GPU model holds (at most 7)
# expect: gpu-01.invalid: $.gpu_models: required with a mig_layout: list the product names of the host's GPUs in index order, as nvidia-smi prints them (or run validate --live to read them from the hosts)
hosts = [
    ("gpu-01.invalid", {"mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 10**12}]}]}),
]
