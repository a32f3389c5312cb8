# A rule by UUID is fitted against that GPU's model (here an H100, where 1g.5gb does not exist).
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].profile: GPU 1: profile 1g.5gb does not exist on NVIDIA H100 80GB HBM3; its profiles are 1g.10gb (ID 19), 1g.10gb+me (ID 20), 1g.20gb (ID 15), 2g.20gb (ID 14), 3g.40gb (ID 9), 4g.40gb (ID 5), 7g.80gb (ID 0)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"], "gpu_uuids": ["GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e", "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f"], "mig_layout": [{"gpus": {"uuid": "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f"}, "instances": [{"profile": "1g.5gb", "count": 7}]}]}),
]
