# gpu_uuids and gpu_models must describe the same GPUs.
# expect: gpu-01.invalid: $.gpu_uuids: 1 UUID(s) for 2 GPU(s) in gpu_models
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"], "gpu_uuids": ["GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}]}),
]
