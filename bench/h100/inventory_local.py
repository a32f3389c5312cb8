"""The machine pyinfra runs on (`@local`), asked for 7 x 1g.10gb on every GPU (an H100 80GB).

    pyinfra bench/h100/inventory_local.py deploy.py --dry     # facts and plan only, nothing run
"""

local = [
    ("@local", {
        "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.10gb", "count": 7}]}],
    }),
]
