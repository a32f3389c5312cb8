# An extra geometry without placements.
# expect: gpu-01.invalid: $.mig_models['Example X7'].profiles[0]: 'placements' is a required property
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["Example X7"], "mig_models": {"Example X7": {"architecture": "Hopper", "memory_mib": 40000, "profiles": [{"id": 1, "name": "1g.10gb", "slices": 1, "instances": 4}]}}, "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.10gb", "count": 4}]}]}),
]
