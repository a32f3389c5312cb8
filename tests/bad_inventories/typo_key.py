# A misspelt key with one of our prefixes is an error, pyinfra's own keys are not.
# expect: gpu-01.invalid: $.mig_layuot: unknown key mig_layuot (did you mean mig_layout?)
# expect: gpu-02.invalid: $.triton_prot_base: unknown key triton_prot_base (did you mean triton_port_base?)
hosts = [
    ("gpu-01.invalid", {"ssh_user": "root", "_sudo": True, "mig_layuot": []}),
    ("gpu-02.invalid", {"triton_prot_base": 8000}),
]
