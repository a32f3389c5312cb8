# Copies of a model per Triton: at least one, and not a number no instance could hold.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].models[0].instance_count: 0 is less than the minimum of 1
# expect: gpu-01.invalid: $.mig_layout[0].instances[1].models[0].instance_count: 1000 is greater than the maximum of 64
# expect: gpu-01.invalid: $.mig_layout[0].instances[1].models[1]: Additional properties are not allowed ('batch' was unexpected)
hosts = [
    ("gpu-01.invalid", {
        "gpu_models": ["NVIDIA A100-SXM4-40GB"],
        "mig_layout": [{"gpus": "all", "instances": [
            {"profile": "1g.5gb", "count": 1, "models": [{"name": "lab_adder", "instance_count": 0}]},
            {"profile": "1g.5gb", "count": 1, "models": [{"name": "lab_adder", "instance_count": 1000},
                                                         {"name": "lab_classifier", "batch": 8}]}]}],
    }),
]
