"""Group data of group_data_error/inventory.py's `gpu` hosts."""
_models = {"a100": "NVIDIA A100-SXM4-40GB"}
gpu_models = [_models["a100-40gb"]] * 8
