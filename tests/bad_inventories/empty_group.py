# An empty group is no hosts either.
# expect: (inventory): $: no hosts: the inventory defines no host group (a list of hostnames or (hostname, data) tuples)
hosts = []
