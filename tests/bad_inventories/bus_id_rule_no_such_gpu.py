# A rule by PCI bus ID that names no GPU of the host.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: selects 00000000:99:00.0, which is no GPU of this host (its GPUs: 00000000:18:00.0)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"], "gpu_pci_bus_ids": ["00000000:18:00.0"],
                        "mig_layout": [{"gpus": {"pci_bus_id": "00000000:99:00.0"}, "instances": [{"profile": "3g.40gb", "count": 2}]}]}),
]
