# A capacity table (for the models' Envoy weights) that is not there.
# expect: gpu-01.invalid: $.triton_capacity_table: no-such-table.json: cannot read: No such file or directory
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"], "triton_capacity_table": "no-such-table.json",
                        "mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.40gb", "count": 2}]}]}),
]
