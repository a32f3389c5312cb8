# A GPU UUID in the MIG form.
# expect: gpu-01.invalid: $.gpu_uuids[0]: 'MIG-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e' is not a GPU UUID (GPU- then 8-4-4-4-12 hex digits, as nvidia-smi -L prints it)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "gpu_uuids": ["MIG-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e"]}),
]
