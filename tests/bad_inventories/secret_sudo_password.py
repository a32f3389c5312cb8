# A secret of the wrong type, not echoed.
# expect: gpu-01.invalid: $._sudo_password: (value hidden) is not of type 'string'
hosts = [
    ("gpu-01.invalid", {"_sudo_password": ["hunter2"]}),
]
