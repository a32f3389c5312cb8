# An IPv4 address missing octets (the resolver reads 10.1.2 as 10.1.0.2), as an address and as a
# host name.
# expect: gpu-01.invalid: $.ssh_hostname: '10.1.2' looks like an IPv4 address but is not one (four numbers 0-255 separated by dots, without leading zeros)
# expect: 10.0.7: $: '10.0.7' looks like an IPv4 address but is not one (four numbers 0-255 separated by dots, without leading zeros); or set ssh_hostname and keep this as a label
hosts = [("gpu-01.invalid", {"ssh_hostname": "10.1.2"}), "10.0.7", ("gpu-03.invalid", {"ssh_hostname": "10.0.0.7"})]
