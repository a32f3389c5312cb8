# Folders migfleet syncs or writes into set to system directories (after trailing slashes and `..`).
# expect: gpu-01.invalid: $.triton_model_dir: /etc (as '/etc/') is a system directory, and migfleet syncs the model repository into it: give it a folder of its own, such as /opt/migfleet/models
# expect: gpu-01.invalid: $.envoy_config_dir: /var/lib (as '/var/lib/docker/..') is a system directory, and migfleet writes Envoy's configuration into it: give it a folder of its own, such as /etc/migfleet/envoy
# expect: gpu-02.invalid: $.triton_model_dir: / is a system directory, and migfleet syncs the model repository into it: give it a folder of its own, such as /opt/migfleet/models
# expect: gpu-03.invalid: $.triton_model_dir: /lib64 is a system directory, and migfleet syncs the model repository into it: give it a folder of its own, such as /opt/migfleet/models
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "triton_model_dir": "/etc/",
                        "envoy_config_dir": "/var/lib/docker/.."}),
    ("gpu-02.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "triton_model_dir": "/"}),
    ("gpu-03.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "triton_model_dir": "/lib64"}),
    ("gpu-04.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "triton_model_dir": "/data/models",
                        "envoy_config_dir": "/etc/envoy/"}),
]
