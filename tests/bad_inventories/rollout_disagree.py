# Hosts that disagree on rollout settings.
# expect: gpu-03.invalid: $.rollout_canary: 1 here, 2 on gpu-01.invalid and 1 other host(s): all hosts must agree on rollout settings (set them in group_data/all.py)
# expect: gpu-03.invalid: $.rollout_batch_size: 5 here, unset on gpu-01.invalid and 1 other host(s): all hosts must agree on rollout settings (set them in group_data/all.py)
hosts = [
    ("gpu-01.invalid", {"rollout_canary": 2}),
    ("gpu-02.invalid", {"rollout_canary": 2}),
    ("gpu-03.invalid", {"rollout_canary": 1, "rollout_batch_size": 5}),
]
