# A Cyrillic letter in a model name is printed escaped, so it cannot read as the real one.
# expect: gpu-01.invalid: $.gpu_models[0]: GPU 0: no MIG geometry known for NVIDIA \u0410100-SXM4-40GB; describe it under mig_models (contains non-ASCII character U+0410 CYRILLIC CAPITAL LETTER A)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA \u0410100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}]}),
]
