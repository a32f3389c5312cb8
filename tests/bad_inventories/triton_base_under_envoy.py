# The Triton ports moved onto Envoy's default ports.
# expect: gpu-01.invalid: $.triton_port_base: envoy_http_port 8000 is inside the Triton ports of GPU 0 (7500-8272, from triton_port_base 7500)
# expect: gpu-01.invalid: $.triton_port_base: envoy_grpc_port 8001 is inside the Triton ports of GPU 0 (7500-8272, from triton_port_base 7500)
# expect: gpu-01.invalid: $.triton_port_base: metrics_port 8002 is inside the Triton ports of GPU 0 (7500-8272, from triton_port_base 7500)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "triton_port_base": 7500}),
]
