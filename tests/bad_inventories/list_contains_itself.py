# A list that holds itself, and lists sharing one another a billion times over.
# expect: gpu-01.invalid: $.triton_server_args[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nests more than 24 levels deep (a list or dict that contains itself?)
# expect: gpu-01.invalid: $.triton_docker_args: holds more than 20000 values (lists sharing one another, or a list that contains itself?)
_loop = []
_loop.append(_loop)
_a = ["x"] * 30
_b = [_a] * 30
_c = [_b] * 30
_d = [_c] * 30
hosts = [("gpu-01.invalid", {"triton_server_args": _loop, "triton_docker_args": _d})]
