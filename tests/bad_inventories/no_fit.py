# The case: two 3g.20gb take all memory slices of an A100-40GB.
# expect: gpu-01.invalid: $.mig_layout[0].instances[1]: GPU 0-7: 3g.20gb + 3g.20gb + 1g.5gb does not fit NVIDIA A100-SXM4-40GB: after 3g.20gb at slice 0, 3g.20gb at slice 4, no placement left for 1g.5gb (its starts: 0, 1, 2, 3, 4, 5, 6)
hosts = [
    ("gpu-01.invalid", {
        "gpu_models": ["NVIDIA A100-SXM4-40GB"] * 8,
        "mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 2},
                                                     {"profile": "1g.5gb"}]}],
    }),
]
