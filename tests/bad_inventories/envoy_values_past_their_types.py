# Envoy's thresholds are uint32, its durations count nanoseconds in an int64 and whole milliseconds:
# these validated before, and Envoy refused the config (or read a timeout of 0: none).
# expect: gpu-01.invalid: $.envoy_unhealthy_threshold: 4294967296 is greater than the maximum of 4294967295
# expect: gpu-01.invalid: $.envoy_route_timeout_s: 10000000000 is greater than the maximum of 9223372035
# expect: gpu-02.invalid: $.envoy_health_interval_s: 0.0005 is less than the minimum of 0.001
# expect: gpu-02.invalid: $.envoy_health_timeout_s: 9223372036 is greater than the maximum of 9223372035
# expect: gpu-02.invalid: $.envoy_route_timeout_s: 0.0004 s is under a millisecond: Envoy counts whole milliseconds and would read 0, no timeout at all; 0 disables the timeout, any other value is at least 0.001
hosts = [
    ("gpu-01.invalid", {"envoy_unhealthy_threshold": 2**32, "envoy_healthy_threshold": 2**32 - 1,
                        "envoy_route_timeout_s": 10**10}),
    ("gpu-02.invalid", {"envoy_health_interval_s": 0.0005, "envoy_health_timeout_s": 9223372036,
                        "envoy_route_timeout_s": 0.0004}),
]
