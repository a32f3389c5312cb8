"""Serving stack, pure: settings, containers, one Triton per MIG device, the host's Envoy."""
