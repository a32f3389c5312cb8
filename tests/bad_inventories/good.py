# Passes: catalog models, explicit placements, smaller compute instances, an extra geometry.
# The first rule of gpu-01 is replaced by later ones on every GPU: a warning, not an error.
# warn: gpu-01.invalid: $.mig_layout[0]: has no effect: later rule(s) 1, 2, 3 replace it on every GPU it selects
hosts = [
    ("gpu-01.invalid", {
        "ssh_user": "root",
        "gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"],
        "mig_layout": [
            {"gpus": "all", "mig": False},
            {"gpus": [0], "instances": [{"profile": "4g.20gb"}, {"profile": "2g.10gb"}, {"profile": 19}]},
            {"gpus": {"index": 1}, "instances": [{"profile": "3g.20gb", "placements": [4],
                                                  "compute": {"profile": "1c.3g.20gb", "count": 3}},
                                                 {"profile": "2g.10gb", "count": 2}]},
            {"gpus": {"model": "NVIDIA H100 80GB HBM3"}, "instances": [{"profile": "1g.20gb", "count": 4}]},
        ],
        "mig_reboot_policy": "if_reset_fails",
    }),
    ("gpu-02.invalid", {
        "gpu_models": ["Example X7"],
        "mig_models": {"Example X7": {"architecture": "Hopper", "memory_mib": 40000, "profiles": [
            {"id": 1, "name": "1g.10gb", "slices": 1, "instances": 4, "placements": [[0, 2], [2, 2], [4, 2], [6, 2]]},
        ]}},
        "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.10gb", "count": 4}]}],
    }),
    # A rule by UUID that only turns MIG off needs no geometry, so no gpu_uuids.
    ("gpu-03.invalid", {
        "gpu_models": ["NVIDIA H100 80GB HBM3"],
        "mig_layout": [{"gpus": {"uuid": "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f"}, "mig": False}],
    }),
]
