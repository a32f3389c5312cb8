# A placement written as a float.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].placements[0]: 4.0 is not an integer (write 4, not 4.0)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.20gb", "placements": [4.0]}]}]}),
]
