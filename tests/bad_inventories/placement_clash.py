# expect: gpu-01.invalid: $.mig_layout[0].instances[1]: GPU 0: explicit placements clash: 3g.20gb at slice 0 (memory slices 0-3) overlaps 2g.10gb at slice 2 (memory slices 2-3)
# expect: gpu-02.invalid: $.mig_layout[0].instances[0].placements: GPU 0: placement 2 is not valid for 3g.20gb on NVIDIA A100-SXM4-40GB; valid starts: 0, 4
hosts = [
    ("gpu-01.invalid", {
        "gpu_models": ["NVIDIA A100-SXM4-40GB"],
        "mig_layout": [{"gpus": "all", "instances": [{"profile": 9, "placements": [0]},
                                                     {"profile": "2g.10gb", "placements": [2]}]}],
    }),
    ("gpu-02.invalid", {
        "gpu_models": ["NVIDIA A100-SXM4-40GB"],
        "mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.20gb", "placements": [2]}]}],
    }),
]
