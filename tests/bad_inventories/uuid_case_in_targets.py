# One GPU declared on two hosts in two cases.
# expect: gpu-02.invalid: $.gpu_uuids[0]: GPU-E77CC529-0A1F-4C3B-9D2E-1F2A3B4C5D6E is a GPU of host gpu-01.invalid too: one GPU is in one machine
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "gpu_uuids": ["GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e"]}),
    ("gpu-02.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "gpu_uuids": ["GPU-E77CC529-0A1F-4C3B-9D2E-1F2A3B4C5D6E"]}),
]
