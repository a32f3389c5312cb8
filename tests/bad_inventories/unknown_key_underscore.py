# A misspelt pyinfra key is unknown too.
# expect: gpu-01.invalid: $._sudoo: unknown key _sudoo (did you mean _sudo?)
hosts = [
    ("gpu-01.invalid", {"_sudoo": True}),
]
