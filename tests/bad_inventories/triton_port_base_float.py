# A port written as a float.
# expect: gpu-01.invalid: $.triton_port_base: 20000.0 is not an integer (write 20000, not 20000.0)
hosts = [
    ("gpu-01.invalid", {"triton_port_base": 20000.0}),
]
