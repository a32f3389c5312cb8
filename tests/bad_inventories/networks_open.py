# Open to every address: legal, so a warning; the real error is elsewhere.
# expect: gpu-01.invalid: $.envoy_retries: 11 is greater than the maximum of 10
# warn: gpu-01.invalid: $.metrics_allow_networks[0]: 0.0.0.0/0 lets every address scrape the metrics endpoint
# warn: gpu-01.invalid: $.metrics_allow_networks[1]: ::/0 lets every address scrape the metrics endpoint
# warn: gpu-01.invalid: $.metrics_allow_networks[3]: 10.0.0.0/8 is also entry 2
hosts = [("gpu-01.invalid", {"metrics_allow_networks": ["0.0.0.0/0", "::/0", "10.0.0.0/8", "10.0.0.0/8"], "envoy_retries": 11})]
