# Errors that come from group data, reported for every host of the group; host data overrides it.
# expect: gpu-b1.invalid: $.mig_force: 'yes' is not of type 'boolean'
# expect: gpu-b2.invalid: $.mig_force: 'yes' is not of type 'boolean'
# expect: gpu-b3.invalid: $.mig_layout[0].instances[0]: GPU 0: too many 1g.20gb instances: 5 of 4 on NVIDIA H100 80GB HBM3
fleet_b = [
    ("gpu-b1.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"]}),
    ("gpu-b2.invalid", {}),
    ("gpu-b3.invalid", {"mig_force": True, "gpu_models": ["NVIDIA H100 80GB HBM3"]}),
]
