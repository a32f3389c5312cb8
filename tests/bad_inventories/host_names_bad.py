# Inventory names that are no host names (and no ssh_hostname to reach them by).
# expect: gpu 01.invalid: $: 'gpu 01.invalid' is not a host name or IP address (letters, digits and -, in labels of at most 63 characters separated by dots); or set ssh_hostname and keep this as a label
# expect: gpu_02.invalid: $: 'gpu_02.invalid' is not a host name or IP address (letters, digits and -, in labels of at most 63 characters separated by dots); or set ssh_hostname and keep this as a label
# expect: -gpu-03.invalid: $: '-gpu-03.invalid' is not a host name or IP address (letters, digits and -, in labels of at most 63 characters separated by dots); or set ssh_hostname and keep this as a label
# expect: gpu-04..invalid: $: 'gpu-04..invalid' is not a host name or IP address (letters, digits and -, in labels of at most 63 characters separated by dots); or set ssh_hostname and keep this as a label
# expect: gpu/05: $: 'gpu/05' is not a plain name (letters, digits, . _ -)
hosts = ["gpu 01.invalid", "gpu_02.invalid", "-gpu-03.invalid", "gpu-04..invalid", ("gpu/05", {"ssh_hostname": "gpu-05.invalid"})]
