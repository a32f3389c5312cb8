# A failure percent past 100, which `migfleet rollout` refuses.
# expect: gpu-01.invalid: $.rollout_max_failures: '100.5%' is neither a count (integer >= 0) nor a percent such as "10%"
hosts = [("gpu-01.invalid", {"rollout_max_failures": "100.5%"})]
