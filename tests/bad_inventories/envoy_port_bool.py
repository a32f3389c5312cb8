# True is not a port.
# expect: gpu-01.invalid: $.envoy_http_port: True is not of type 'integer'
hosts = [
    ("gpu-01.invalid", {"envoy_http_port": True}),
]
