# A look-alike letter in an enum value.
# expect: gpu-01.invalid: $.mig_reboot_policy: 'n\u0435ver' is not one of ['never', 'if_reset_fails'] (contains non-ASCII character U+0435 CYRILLIC SMALL LETTER IE)
hosts = [
    ("gpu-01.invalid", {"mig_reboot_policy": "n\u0435ver"}),
]
