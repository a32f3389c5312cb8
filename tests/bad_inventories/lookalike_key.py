# A look-alike letter in a key: unknown, escaped, and the real key suggested.
# expect: gpu-01.invalid: $['mig_l\u0430yout']: unknown key mig_l\u0430yout (did you mean mig_layout?) (contains non-ASCII character U+0430 CYRILLIC SMALL LETTER A)
hosts = [
    ("gpu-01.invalid", {"mig_l\u0430yout": []}),
]
