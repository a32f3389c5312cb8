# An empty model name.
# expect: gpu-01.invalid: $.gpu_models[0]: '' should be non-empty
hosts = [
    ("gpu-01.invalid", {"gpu_models": [""], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}]}),
]
