# What migfleet rollout refuses: batch size and percent both set.
# expect: gpu-01.invalid: $.rollout_batch_percent: set rollout_batch_size or rollout_batch_percent, not both
hosts = [
    ("gpu-01.invalid", {"rollout_batch_size": 2, "rollout_batch_percent": 25}),
]
