# An integer of 401 digits where a number belongs: refused by size, before the schema looks.
# expect: gpu-01.invalid: $.envoy_drain_seconds: an integer of about 401 digits is too large
hosts = [("gpu-01.invalid", {"envoy_drain_seconds": 10**400})]
