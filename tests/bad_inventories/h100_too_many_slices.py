# Too many slices on an H100.
# expect: gpu-01.invalid: $.mig_layout[0].instances[2]: GPU 0: 4g.40gb + 3g.40gb + 1g.10gb does not fit NVIDIA H100 80GB HBM3: too many slices: 8 of 7
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "4g.40gb"}, {"profile": "3g.40gb"}, {"profile": "1g.10gb"}]}]}),
]
