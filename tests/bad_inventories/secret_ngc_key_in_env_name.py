# The NGC key itself put where the name of its variable belongs: refused, not echoed.
# expect: gpu-01.invalid: $.triton_ngc_key_env: (value hidden) must name an environment variable (letters, digits and _), not hold the key itself
hosts = [
    ("gpu-01.invalid", {"triton_ngc_key_env": "nvapi-Zq3x9-SECRET-value"}),
]
