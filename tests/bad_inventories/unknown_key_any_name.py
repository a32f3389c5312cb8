# Unknown keys of any name, with a suggestion where one is close.
# expect: gpu-01.invalid: $.gpus_models: unknown key gpus_models (did you mean gpu_models?)
# expect: gpu-01.invalid: $.layout: unknown key layout (did you mean mig_layout?)
hosts = [
    ("gpu-01.invalid", {"gpus_models": ["NVIDIA A100-SXM4-40GB"], "layout": []}),
]
