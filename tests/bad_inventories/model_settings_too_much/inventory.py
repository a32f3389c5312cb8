# Triton settings a model's own config.pbtxt cannot take, each named with the host, its JSON path and
# the model: a batch over the model's max_batch_size, batching on a model of max_batch_size 0.
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].models[0].max_batch_size: 32 is more than model 'batching' takes: its config.pbtxt has max_batch_size 16
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].models[1].max_batch_size: model 'single' does not batch (its config.pbtxt has max_batch_size 0): dynamic batching cannot be turned on for it; give max_batch_size 0 or leave it out
hosts = [
    ("gpu-01.invalid", {
        "gpu_models": ["NVIDIA A100-SXM4-40GB"],
        "mig_layout": [{"gpus": "all", "instances": [
            {"profile": "3g.20gb", "count": 1, "models": [{"name": "batching", "instance_count": 2, "max_batch_size": 32},
                                                          {"name": "single", "max_batch_size": 4}]},
            {"profile": "1g.5gb", "count": 1, "models": [{"name": "single", "instance_count": 2, "max_batch_size": 0}]},
            {"profile": "1g.5gb", "count": 1, "models": [{"name": "batching", "max_batch_size": 16}]}]}],
    }),
]
