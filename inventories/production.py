"""An example production fleet: two groups of A100 hosts. Copy it and change what the notes say.

    python -m migfleet validate inventories/production.py    # schema + geometry, no host contacted
    pyinfra inventories/production.py deploy.py --dry        # what would change, per host and GPU
    pyinfra -y inventories/production.py deploy.py           # converge

Group data lives in group_data/<group>.py (a100_40.py, a100_80.py); defaults in group_data/all.py.
Every host is also in the `production` group (named after this file).
"""

# Change: your Triton model repository (one folder per model), synced to every host; a relative
# path is relative to this file's folder. This one is the repository's own demo model.
_models = {"triton_model_repository": "../files/models"}

# Change: how migfleet logs in. The user must run nvidia-smi and docker without a password prompt
# (root, or set SUDO = True in config.py). Host keys are always checked: list every host in the
# known_hosts file below first (e.g. with `ssh-keyscan`, verified out of band).
_ssh = {
    "ssh_user": "root",
    "ssh_key": "~/.ssh/migfleet_ed25519",
    "ssh_known_hosts_file": "~/.ssh/migfleet_known_hosts",
    "ssh_strict_host_key_checking": "yes",
}

# Change: the hostnames (placeholders under example.com). Per-host data overrides group data,
# e.g. a host with a GPU reserved for something else:
#   ("gpu-a40-04.example.com", {**_ssh, "mig_layout": [..., {"gpus": [7], "mig": False}]})
a100_40 = [
    (f"gpu-a40-{n:02d}.example.com", {**_ssh, **_models}) for n in range(1, 5)
]

a100_80 = [
    (f"gpu-a80-{n:02d}.example.com", {**_ssh, **_models}) for n in range(1, 3)
]
