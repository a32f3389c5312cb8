# An index written as a float.
# expect: gpu-01.invalid: $.mig_layout[0].gpus.index: 0.0 is not an integer (write 0, not 0.0)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": {"index": 0.0}, "mig": False}]}),
]
