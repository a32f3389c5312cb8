# More canaries than the inventory has hosts.
# expect: gpu-01.invalid: $.rollout_canary: 3 canary host(s), but the inventory has 2 host(s)
hosts = [
    ("gpu-01.invalid", {"rollout_canary": 3}),
    ("gpu-02.invalid", {"rollout_canary": 3}),
]
