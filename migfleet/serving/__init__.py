"""Serving stack: settings, containers, one Triton per MIG device, the host's Envoy. Pure but for the host-side
modules `rebind`, `rotation` (they run docker and read Envoy's admin) and `metrics` (it reads this
machine's addresses with `ip`)."""
