# Names with a leading underscore are not groups, so this inventory has no hosts.
# expect: (inventory): $: no hosts: the inventory defines no host group (a list of hostnames or (hostname, data) tuples)
_hosts = ["gpu-01.invalid", "gpu-02.invalid"]
