# No host group at all.
# Every host was commented out.
# hosts = ["gpu-01.invalid"]
# expect: (inventory): $: no hosts: the inventory defines no host group (a list of hostnames or (hostname, data) tuples)
