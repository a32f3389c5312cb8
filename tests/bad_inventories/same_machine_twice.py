# Two hosts that reach one machine (an address in another case, with a trailing dot, is the same);
# one GPU UUID twice on one host, in two cases.
# expect: gpu-05.invalid: $.gpu_uuids[1]: GPU-E77CC529-0A1F-4C3B-9D2E-1F2A3B4C5D6E is also entry 0 (GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e): one GPU, written twice
# expect: gpu-02.invalid: $.ssh_hostname: reaches 10.0.0.5 port 22, as host gpu-01.invalid does: one machine, listed twice
# expect: gpu-03-alias: $.ssh_hostname: reaches gpu-03.invalid port 22, as host gpu-03.invalid does: one machine, listed twice
hosts = [
    ("gpu-01.invalid", {"ssh_hostname": "10.0.0.5"}),
    ("gpu-02.invalid", {"ssh_hostname": "10.0.0.5"}),
    ("gpu-03.invalid", {}),
    ("gpu-03-alias", {"ssh_hostname": "GPU-03.invalid."}),
    ("gpu-04.invalid", {"ssh_hostname": "10.0.0.5", "ssh_port": 2222}),
    ("gpu-05.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"], "gpu_uuids": ["GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e", "GPU-E77CC529-0A1F-4C3B-9D2E-1F2A3B4C5D6E"]}),
]
