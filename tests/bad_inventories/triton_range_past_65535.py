# Triton ports past 65535 used to be found only at deploy time, after MIG had changed.
# expect: gpu-01.invalid: $.triton_port_base: Triton ports of GPU 7 would reach 67772, past 65535: base + 1000 per GPU + up to 772
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"] * 8, "triton_port_base": 60000}),
]
