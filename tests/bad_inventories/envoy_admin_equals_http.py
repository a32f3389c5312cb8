# Envoy's admin port equal to its HTTP port.
# expect: gpu-01.invalid: $.envoy_admin_port: envoy_admin_port 9000 is also envoy_http_port: each Envoy listener needs a port of its own
hosts = [
    ("gpu-01.invalid", {"envoy_http_port": 9000, "envoy_admin_port": 9000}),
]
