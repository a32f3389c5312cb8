# Errors that come from group data, reported for every host of the group; host data overrides it.
# expect: gpu-b1.invalid: $.mig_force: 'yes' is not of type 'boolean'
# expect: gpu-b1.invalid: $.mig_layout[0].instances[0]: GPU 0: too many 1g.20gb instances: 5 of 4 on NVIDIA H100 80GB HBM3
# expect: gpu-b2.invalid: $.mig_force: 'yes' is not of type 'boolean'
# expect: gpu-b2.invalid: $.mig_layout[0].instances[0]: 5 x 1g.20gb is more than any known GPU model holds (at most 4)
# expect: gpu-b2.invalid: $.gpu_models: required with a mig_layout: list the product names of the host's GPUs in index order, as nvidia-smi prints them (or run validate --live to read them from the hosts)
# expect: gpu-b3.invalid: $.mig_layout[0].instances[0]: GPU 0: too many 1g.20gb instances: 5 of 4 on NVIDIA H100 80GB HBM3
fleet_b = [
    ("gpu-b1.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"]}),
    ("gpu-b2.invalid", {}),
    ("gpu-b3.invalid", {"mig_force": True, "gpu_models": ["NVIDIA H100 80GB HBM3"]}),
]
