# Without gpu_models the Triton range is checked for 8 GPUs.
# expect: gpu-01.invalid: $.triton_port_base: Triton ports of GPU 7 would reach 71772, past 65535 (8 GPUs assumed: gpu_models is not set): base + 1000 per GPU + up to 772
hosts = [
    ("gpu-01.invalid", {"triton_port_base": 64000}),
]
