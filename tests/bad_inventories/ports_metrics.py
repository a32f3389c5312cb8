# The metrics port on Envoy's HTTP port, and inside the Triton range; gRPC on the default metrics port.
# expect: gpu-01.invalid: $.metrics_port: metrics_port 8000 is also envoy_http_port: each Envoy listener needs a port of its own
# expect: gpu-02.invalid: $.metrics_port: metrics_port 20005 is inside the Triton ports of GPU 0 (20000-20772, from triton_port_base 20000)
# expect: gpu-03.invalid: $.envoy_grpc_port: metrics_port 8002 is also envoy_grpc_port: each Envoy listener needs a port of its own
hosts = [
    ("gpu-01.invalid", {"metrics_port": 8000}),
    ("gpu-02.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "metrics_port": 20005}),
    ("gpu-03.invalid", {"envoy_grpc_port": 8002}),
]
