# Allow-list entries the deploy's parser (or Envoy) would refuse.
# expect: gpu-01.invalid: $.metrics_allow_networks[0]: '10.0.0.0/33' is not a network (a CIDR such as 10.0.0.0/8, with a prefix length of at most 32 for IPv4, 128 for IPv6)
# expect: gpu-01.invalid: $.metrics_allow_networks[1]: 'fd00::/129' is not a network (a CIDR such as 10.0.0.0/8, with a prefix length of at most 32 for IPv4, 128 for IPv6)
# expect: gpu-01.invalid: $.metrics_allow_networks[2]: '10.1.2.3/8' is not a network (a CIDR such as 10.0.0.0/8, with a prefix length of at most 32 for IPv4, 128 for IPv6); host bits are set: the network is 10.0.0.0/8
# expect: gpu-01.invalid: $.metrics_allow_networks[3]: '[fd00::]/8' is not a network (a CIDR such as 10.0.0.0/8, with a prefix length of at most 32 for IPv4, 128 for IPv6)
# expect: gpu-01.invalid: $.metrics_allow_networks[4]: 'fe80::1%eth0/128' is not a network: write a CIDR such as 10.0.0.0/8 or fd00::/8, without a zone index or spaces
# expect: gpu-01.invalid: $.metrics_allow_networks[5]: 'prometheus.example.com' is not a network (a CIDR such as 10.0.0.0/8, with a prefix length of at most 32 for IPv4, 128 for IPv6)
hosts = [("gpu-01.invalid", {"metrics_allow_networks": ["10.0.0.0/33", "fd00::/129", "10.1.2.3/8", "[fd00::]/8", "fe80::1%eth0/128", "prometheus.example.com"]})]
