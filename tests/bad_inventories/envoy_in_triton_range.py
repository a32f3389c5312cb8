# Envoy's HTTP port inside the Triton ports of the host's GPUs.
# expect: gpu-01.invalid: $.envoy_http_port: envoy_http_port 21005 is inside the Triton ports of GPU 1 (21000-21772, from triton_port_base 20000)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"], "envoy_http_port": 21005}),
]
