"""Defaults for every host. Serving defaults (toolkit_*, docker_*, triton_*, envoy_*) come from
schemas/serving.v1.json; rollout_* from migfleet/schemas/rollout.v1.json."""

# MIG layout rules (docs/ARCHITECTURE.md, "Contracts"): none by default, so GPUs no rule selects
# are left exactly as they are.
mig_layout = []

# "never": a GPU whose reset is refused fails the host; "if_reset_fails": reboot it instead and let
# migfleet-mig.service apply the layout at boot.
mig_reboot_policy = "never"

# False: refuse to destroy MIG instances a foreign process is using (the host fails, naming it).
mig_force = False
