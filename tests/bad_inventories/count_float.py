# A count written as a float used to pass the schema and crash the planner.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].count: 7.0 is not an integer (write 7, not 7.0)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7.0}]}]}),
]
