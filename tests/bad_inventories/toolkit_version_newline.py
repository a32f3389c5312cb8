# A version pin with a trailing newline.
# expect: gpu-01.invalid: $.toolkit_version: '1.17.8-1\n' does not match '^[0-9A-Za-z.+~:-]+$'
hosts = [
    ("gpu-01.invalid", {"toolkit_version": "1.17.8-1\n"}),
]
