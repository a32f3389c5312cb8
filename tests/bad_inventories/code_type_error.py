# A TypeError while building host data.
# expect: tests/bad_inventories/code_type_error.py:3: TypeError: can't multiply sequence by non-int of type 'str'
hosts = [("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"] * "8"})]
