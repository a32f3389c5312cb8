# Long values are echoed cut to a few dozen characters.
# expect: gpu-01.invalid: $.triton_image: ['xxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxx', 'xxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxx', 'xxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxx'] is not of type 'string'
# expect: gpu-01.invalid: $.envoy_health_path: 'healthhealthhealthhea...althhealthhealthhealth' does not match '^/[^\\s]*$'
hosts = [("gpu-01.invalid", {"triton_image": ["x" * 1000]*3, "envoy_health_path": "health" * 500})]
