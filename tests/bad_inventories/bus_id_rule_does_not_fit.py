# A rule by PCI bus ID is fitted against that GPU's model.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0]: GPU 1: too many 3g.40gb instances: 3 of 2 on NVIDIA H100 80GB HBM3
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"],
                        "gpu_pci_bus_ids": ["00000000:18:00.0", "00000000:2A:00.0"],
                        "mig_layout": [{"gpus": {"pci_bus_id": "0000:2a:00.0"}, "instances": [{"profile": "3g.40gb", "count": 3}]}]}),
]
