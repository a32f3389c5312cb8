# A drain time of years, and a timeout of 1e308 seconds.
# expect: gpu-01.invalid: $.triton_ready_timeout: 1000000000000 is greater than the maximum of 86400
# expect: gpu-01.invalid: $.envoy_drain_seconds: 1000000000 is greater than the maximum of 3600
hosts = [("gpu-01.invalid", {"envoy_drain_seconds": 10**9, "triton_ready_timeout": 10**12})]
