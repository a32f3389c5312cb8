# A rule that later rules replace on every GPU is a warning; the error is the count.
# expect: gpu-01.invalid: $.mig_layout[1].instances[0]: GPU 1, 0: too many 1g.5gb instances: 8 of 7 on NVIDIA A100-SXM4-40GB
# warn: gpu-01.invalid: $.mig_layout[0]: has no effect: later rule(s) 1 replace it on every GPU it selects
hosts = [("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"], "mig_layout": [
    {"gpus": [1], "mig": False},
    {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 8}]},
]})]
