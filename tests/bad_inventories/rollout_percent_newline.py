# A trailing newline does not pass a pattern.
# expect: gpu-01.invalid: $.rollout_max_failures: '10%\n' is neither a count (integer >= 0) nor a percent such as "10%"
hosts = [
    ("gpu-01.invalid", {"rollout_max_failures": "10%\n"}),
]
