# An empty selector object.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: an empty selector selects nothing: give one of index, model, uuid, pci_bus_id or pci_device_id
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": {}, "mig": False}]}),
]
