# A group whose group data file is misspelt: its hosts get no layout.
# expect: gpu-c1.invalid: $: is in group fleet_c, which has no group data, while group_data/fleet_b.py applies to no group: did you mean fleet_b?
fleet_c = ["gpu-c1.invalid"]
