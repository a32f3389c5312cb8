# A compute profile no model offers, named without gpu_models.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].compute.profile: compute profile '5c.3g.20gb' does not exist in a 3g.20gb GPU instance; its compute profiles are 1c.3g.20gb (ID 0), 2c.3g.20gb (ID 1), 3g.20gb (ID 2)
# expect: gpu-01.invalid: $.gpu_models: required with a mig_layout: list the product names of the host's GPUs in index order, as nvidia-smi prints them (or run validate --live to read them from the hosts)
hosts = [
    ("gpu-01.invalid", {"mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.20gb", "compute": {"profile": "5c.3g.20gb"}}]}]}),
]
