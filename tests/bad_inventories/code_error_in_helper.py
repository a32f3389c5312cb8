# The error is named where it is raised, inside the inventory's own helper.
# expect: tests/bad_inventories/code_error_in_helper.py:5: ValueError: only 4 GPU slots, asked for 8
def _models(n):
    if n > 4:
        raise ValueError(f"only 4 GPU slots, asked for {n}")
    return ["NVIDIA A100-SXM4-40GB"] * n


hosts = [("gpu-01.invalid", {"gpu_models": _models(8)})]
