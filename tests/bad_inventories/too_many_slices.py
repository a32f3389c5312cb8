# expect: gpu-01.invalid: $.mig_layout[0].instances[1]: GPU 0: 4g.20gb + 2g.10gb + 2g.10gb does not fit NVIDIA A100-SXM4-40GB: too many slices: 8 of 7
hosts = [
    ("gpu-01.invalid", {
        "gpu_models": ["NVIDIA A100-SXM4-40GB"],
        "mig_layout": [{"gpus": {"index": 0}, "instances": [{"profile": "4g.20gb"},
                                                            {"profile": "2g.10gb", "count": 2}]}],
    }),
]
