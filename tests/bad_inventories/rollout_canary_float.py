# A canary count written as a float.
# expect: gpu-01.invalid: $.rollout_canary: 1.0 is not an integer (write 1, not 1.0)
hosts = [
    ("gpu-01.invalid", {"rollout_canary": 1.0}),
]
