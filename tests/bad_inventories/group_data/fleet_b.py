# Group data of group_merge.py's fleet_b hosts.
mig_force = "yes"
mig_layout = [{"gpus": "all", "instances": [{"profile": "1g.20gb", "count": 5}]}]
