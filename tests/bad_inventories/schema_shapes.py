# Shape errors are all reported at once, host by host.
# expect: gpu-01.invalid: $.mig_layout[0].gpus: 'alll' is not a GPU selector: use "all", a list of indexes, {"index": N}, {"model": "..."}, {"uuid": "GPU-..."}, {"pci_bus_id": "..."} or {"pci_device_id": "0x...."}
# expect: gpu-01.invalid: $.mig_layout[1].instances[0]: give either count or placements, not both
# expect: gpu-01.invalid: $.mig_layout[2]: a rule with "mig": false takes no instances
# expect: gpu-02.invalid: $.mig_layout[0].instances[0]: Additional properties are not allowed ('cuont' was unexpected)
# expect: gpu-02.invalid: $.mig_reboot_policy: 'sometimes' is not one of ['never', 'if_reset_fails']
# expect: gpu-02.invalid: $.triton_port_base: '8000' is not of type 'integer'
hosts = [
    ("gpu-01.invalid", {"mig_layout": [
        {"gpus": "alll", "instances": [{"profile": "1g.5gb"}]},
        {"gpus": [0], "instances": [{"profile": "1g.5gb", "count": 2, "placements": [0, 1]}]},
        {"gpus": [1], "mig": False, "instances": []},
    ]}),
    ("gpu-02.invalid", {"mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "cuont": 2}]}],
                        "mig_reboot_policy": "sometimes", "triton_port_base": "8000"}),
]
