# An extra geometry with one profile ID twice and a placement past the last memory slice.
# expect: gpu-01.invalid: $.mig_models['Example X7'].profiles[0].placements[3]: slices 7-8 go past the last of the model's 8 memory slices
# expect: gpu-01.invalid: $.mig_models['Example X7'].profiles[1].id: profile ID 1 is also profile 0's
hosts = [("gpu-01.invalid", {"gpu_models": ["Example X7"], "mig_models": {"Example X7": {"architecture": "Hopper", "memory_mib": 40000, "profiles": [
    {"id": 1, "name": "1g.10gb", "slices": 1, "instances": 4, "placements": [[0, 2], [2, 2], [4, 2], [7, 2]]},
    {"id": 1, "name": "2g.20gb", "slices": 2, "instances": 2, "placements": [[0, 4], [4, 4]]},
]}}, "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.10gb", "count": 4}]}]})]
