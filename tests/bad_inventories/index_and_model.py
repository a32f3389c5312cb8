# expect: gpu-01.invalid: $.mig_layout[1].gpus: selects GPU index 8 but the host has GPUs 0-7
# expect: gpu-02.invalid: $.gpu_models[0]: GPU 0: no MIG geometry known for NVIDIA Z100; describe it under mig_models
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-80GB"] * 8,
                        "mig_layout": [{"gpus": "all", "instances": [{"profile": "7g.80gb"}]},
                                       {"gpus": [7, 8], "mig": False}]}),
    ("gpu-02.invalid", {"gpu_models": ["NVIDIA Z100"],
                        "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb"}]}]}),
]
