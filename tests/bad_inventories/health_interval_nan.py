# NaN passes every comparison; it is not a number of seconds.
# expect: gpu-01.invalid: $.envoy_health_interval_s: nan is not a finite number
hosts = [
    ("gpu-01.invalid", {"envoy_health_interval_s": float("nan")}),
]
