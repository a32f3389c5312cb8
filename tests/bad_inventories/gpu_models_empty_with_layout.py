# No GPU listed, but a layout: it would never be fitted.
# expect: gpu-01.invalid: $.gpu_models: no GPU, but mig_layout has 1 rule(s), which would never be fitted: list the host's GPUs (or leave mig_layout out)
hosts = [("gpu-01.invalid", {"gpu_models": [], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}]})]
