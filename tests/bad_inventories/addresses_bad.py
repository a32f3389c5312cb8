# A listen address with a port, or a name; an ssh_hostname with a port.
# expect: gpu-01.invalid: $.envoy_listen_address: '0.0.0.0:8000' is not an IP address: Envoy listens on an address such as 0.0.0.0, :: or 10.0.0.5 (no port, no name, no brackets)
# expect: gpu-02.invalid: $.ssh_hostname: holds a port ('gpu-02.invalid:2222'): give the port as ssh_port
# expect: gpu-02.invalid: $.envoy_listen_address: 'localhost' is not an IP address: Envoy listens on an address such as 0.0.0.0, :: or 10.0.0.5 (no port, no name, no brackets)
# expect: gpu-03.invalid: $.envoy_listen_address: '[::]' is not an IP address: Envoy listens on an address such as 0.0.0.0, :: or 10.0.0.5 (no port, no name, no brackets)
hosts = [
    ("gpu-01.invalid", {"envoy_listen_address": "0.0.0.0:8000"}),
    ("gpu-02.invalid", {"envoy_listen_address": "localhost", "ssh_hostname": "gpu-02.invalid:2222"}),
    ("gpu-03.invalid", {"envoy_listen_address": "[::]"}),
]
