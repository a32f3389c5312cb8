# A rule by UUID cannot be fitted without knowing which GPU has that UUID.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: a rule by UUID can only be checked against its GPU's model: list the host's gpu_uuids beside gpu_models (or run validate --live)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"], "mig_layout": [{"gpus": {"uuid": "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f"}, "instances": [{"profile": "1g.10gb", "count": 7}]}]}),
]
