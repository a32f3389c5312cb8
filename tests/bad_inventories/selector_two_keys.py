# A selector with two keys.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: give one of index, model, uuid, pci_bus_id or pci_device_id, not several
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": {"index": 0, "model": "NVIDIA A100-SXM4-40GB"}, "mig": False}]}),
]
