# A look-alike letter in a model selector.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: selects model NVIDIA A100-SXM4-40G\u0412, which no host of the inventory has and no known geometry describes; did you mean NVIDIA A100-SXM4-40GB? (contains non-ASCII character U+0412 CYRILLIC CAPITAL LETTER VE)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": {"model": "NVIDIA A100-SXM4-40G\u0412"}, "mig": False}]}),
]
