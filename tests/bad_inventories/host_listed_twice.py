# The same host twice in one group: pyinfra merges the two entries without a word.
# expect: gpu-01.invalid: $: listed twice in group hosts: pyinfra merges the entries silently; list each host once
hosts = [
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA A100-SXM4-40GB"]}),
    ("gpu-01.invalid", {"gpu_models": ["NVIDIA H100 80GB HBM3"]}),
]
