# One bus ID in two spellings; fewer bus IDs than GPUs.
# expect: gpu-01.invalid: $.gpu_pci_bus_ids[1]: 0000:17:00.0 is also entry 0 (00000000:17:00.0): one GPU, written twice
# expect: gpu-02.invalid: $.gpu_pci_bus_ids: 1 PCI bus ID(s) for 2 GPU(s) in gpu_models
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"], "gpu_pci_bus_ids": ["00000000:17:00.0", "0000:17:00.0"]}),
    ("gpu-02.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"], "gpu_pci_bus_ids": ["00000000:17:00.0"],
                        "mig_layout": [{"gpus": {"pci_bus_id": "00000000:17:00.0"}, "mig": False}]}),
]
