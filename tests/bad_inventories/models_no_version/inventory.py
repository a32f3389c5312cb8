# Triton loads a model's versions from folders named by number: 'a' has only v1/, the ensemble 'c'
# has none (an ensemble needs an empty 1/ too). No instance lists models: every Triton loads them all.
# expect: gpu-01.invalid: $.triton_model_repository: model 'a' has no version folder: Triton loads a model's versions from folders named by number (1/, 2/, ...); it has: config.pbtxt, v1/
# expect: gpu-01.invalid: $.triton_model_repository: model 'c' has no version folder: Triton loads a model's versions from folders named by number (1/, 2/, ...); it has: config.pbtxt
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [
        {"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 2}]}]}),
]
