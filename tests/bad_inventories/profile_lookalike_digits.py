# A profile ID in fullwidth digits reads as 19 to Python's int().
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].profile: '\uff11\uff19' must be written in plain ASCII: a profile name such as 1g.10gb or an ID such as 19 (look-alike letters or digits?) (contains non-ASCII characters U+FF11 FULLWIDTH DIGIT ONE, U+FF19 FULLWIDTH DIGIT NINE)
hosts = [("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [{"gpus": "all", "instances": [{"profile": "\uff11\uff19", "count": 7}]}]})]
