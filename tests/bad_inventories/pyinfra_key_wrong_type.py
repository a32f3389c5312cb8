# pyinfra's own keys are allowed, and checked.
# expect: gpu-01.invalid: $.ssh_port: '22' is not of type 'integer'
hosts = [
    ("gpu-01.invalid", {"ssh_port": "22", "ssh_user": "root"}),
]
