# A data key that is not a string.
# expect: gpu-01.invalid: $: data key 1 is not a string
hosts = [
    ("gpu-01.invalid", {1: True}),
]
