# Each model fits a 1g.1gb instance of this geometry (2 MiB) alone, but one Triton loads both into the one instance.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].models: models 'a', 'b' have 3 MiB of files together, more than the 2 MiB of memory of a 1g.1gb instance on Example T1
hosts = [
    ("gpu-01.invalid", {
        "gpu_models": ["Example T1"],
        "mig_models": {"Example T1": {"architecture": "Hopper", "memory_mib": 16, "profiles": [
            {"id": 1, "name": "1g.1gb", "slices": 1, "instances": 4, "memory_mib": 2,
             "placements": [[0, 2], [2, 2], [4, 2], [6, 2]]},
        ]}},
        "mig_layout": [{"gpus": "all", "models": ["a"], "instances": [
            {"profile": "1g.1gb", "count": 2, "models": ["a", "b"]},
            {"profile": "1g.1gb", "count": 2}]}],
    }),
]
