# A PCI device ID with another vendor's half still named the A100's device.
# expect: gpu-01.invalid: $.mig_layout[0].gpus.pci_device_id: 0x20B110DF: vendor ID 0x10DF is not NVIDIA's (0x10DE); write the device ID alone (0x2330) or with NVIDIA's (0x233010DE)
hosts = [("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": {"pci_device_id": "0x20B110DF"}, "mig": False}]})]
