# A listener on SSH's port, and the admin port on a moved ssh_port.
# expect: gpu-01.invalid: $.envoy_http_port: envoy_http_port 22 is also ssh_port, where the host's SSH server listens
# expect: gpu-02.invalid: $.envoy_admin_port: envoy_admin_port 2222 is also ssh_port, where the host's SSH server listens
# expect: gpu-03.invalid: $.ssh_port: ssh_port 20101 is inside the Triton ports of GPU 0 (20000-20772, from triton_port_base 20000)
hosts = [
    ("gpu-01.invalid", {"envoy_http_port": 22}),
    ("gpu-02.invalid", {"ssh_port": 2222, "envoy_admin_port": 2222}),
    ("gpu-03.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "ssh_port": 20101}),
]
