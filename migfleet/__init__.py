"""migfleet: MIG-partitioned inference servers for fleets of NVIDIA GPU hosts."""

__version__ = "0.1.0"
