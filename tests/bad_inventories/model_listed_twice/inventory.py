# One model listed twice for one instance, once by name and once with settings: which does it load with?
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].models[1]: model 'batching' is listed twice
hosts = [
    ("gpu-01.invalid", {
        "gpu_models": ["NVIDIA A100-SXM4-40GB"],
        "mig_layout": [{"gpus": "all", "instances": [
            {"profile": "7g.40gb", "count": 1, "models": ["batching", {"name": "batching", "max_batch_size": 8}]}]}],
    }),
]
