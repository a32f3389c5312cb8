# Envoy's HTTP and gRPC listeners on one port.
# expect: gpu-01.invalid: $.envoy_grpc_port: envoy_grpc_port 8000 is also envoy_http_port: each Envoy listener needs a port of its own
hosts = [
    ("gpu-01.invalid", {"envoy_grpc_port": 8000}),
]
