# A rule by PCI bus ID on a host whose bus IDs the inventory does not list: it cannot be fitted.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: a rule by PCI bus ID can only be checked against its GPU's model: list the host's gpu_pci_bus_ids beside gpu_models (or run validate --live)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"],
                        "mig_layout": [{"gpus": {"pci_bus_id": "00000000:18:00.0"}, "instances": [{"profile": "3g.40gb", "count": 2}]}]}),
]
