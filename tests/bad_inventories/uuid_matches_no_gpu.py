# A UUID that is no GPU of the host, nor of any other host.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: selects GPU-00000000-1111-2222-3333-444444444444, which is no GPU of this host (its GPUs: GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e, GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"], "gpu_uuids": ["GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e", "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f"], "mig_layout": [{"gpus": {"uuid": "GPU-00000000-1111-2222-3333-444444444444"}, "mig": False}]}),
]
