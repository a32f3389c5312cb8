"""Data for every host of this repository's inventories.

Nothing is set here by default: every key's default (mig_*, toolkit_*, docker_*, triton_*, envoy_*,
rollout_*) is written once, in migfleet/schemas/*.json, and read from there by the deploys, so they
behave the same when imported from another pyinfra project. Set fleet-wide values here.
"""
