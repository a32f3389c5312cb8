# A secret's value is never echoed.
# expect: gpu-01.invalid: $.ssh_password: (value hidden) is not of type 'string'
hosts = [
    ("gpu-01.invalid", {"ssh_password": 12345678}),
]
