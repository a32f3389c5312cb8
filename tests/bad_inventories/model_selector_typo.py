# A model selector that matches no GPU anywhere and no known model.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: selects model NVIDIA A100-SXM4-40G, which no host of the inventory has and no known geometry describes; did you mean NVIDIA A100-SXM4-40GB?
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": {"model": "NVIDIA A100-SXM4-40G"}, "instances": [{"profile": "1g.5gb", "count": 7}]}]}),
]
