# Links out of the model repository: the sync would send these files of the deploy machine to every host.
# expect: gpu-01.invalid: $.triton_model_repository: README is a link to '../inventory.py', outside the model repository: the sync sends the hosts only files inside it (copy the file in, or link to one inside)
# expect: gpu-01.invalid: $.mig_layout[0].instances[0].models[0]: model 'a': a/1/weights.bin is a link to '../../../inventory.py', outside the model repository: the sync sends the hosts only files inside it (copy the file in, or link to one inside)
# expect: gpu-01.invalid: $.triton_model_repository: model 'b': b/1/model.py is a link to '/etc/hostname', outside the model repository: the sync sends the hosts only files inside it (copy the file in, or link to one inside)
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"], "mig_layout": [
        {"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 2, "models": ["a"]}]}]}),
]
