# A config.pbtxt whose top-level name is not its folder's: Triton refuses to load it. Names of inputs
# and outputs, and a name in a comment, are not the model's.
# expect: gpu-01.invalid: $.mig_layout[0].instances[1].models[0]: model 'resnet': config.pbtxt line 10 names it 'resnet50' (name : 'resnet50'), but its folder is 'resnet': Triton loads a model only under its folder's name
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [
        {"gpus": "all", "models": ["ok", "resnet"],
         "instances": [{"profile": "3g.20gb", "count": 1}, {"profile": "2g.10gb", "count": 1, "models": ["resnet"]}]}]}),
]
