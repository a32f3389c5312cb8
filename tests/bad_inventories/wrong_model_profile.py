# A100 profile names on an H100 host; the rule for the A100 GPU of the mixed host is fine.
# expect: gpu-01.invalid: $.mig_layout[1].instances[0].profile: GPU 1: profile 1g.5gb does not exist on NVIDIA H100 80GB HBM3; its profiles are 1g.10gb (ID 19), 1g.10gb+me (ID 20), 1g.20gb (ID 15), 2g.20gb (ID 14), 3g.40gb (ID 9), 4g.40gb (ID 5), 7g.80gb (ID 0)
hosts = [
    ("gpu-01.invalid", {
        "gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"],
        "mig_layout": [{"gpus": {"model": "NVIDIA A100-SXM4-40GB"},
                        "instances": [{"profile": "1g.5gb", "count": 7}]},
                       {"gpus": [1], "instances": [{"profile": "1g.5gb", "count": 7}]}],
    }),
]
