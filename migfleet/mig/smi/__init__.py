"""nvidia-smi, the one home of its protocol: the commands migfleet sends, the snapshot it reads, and\npure parsers of their output.

Formats follow real captures (../shared/fixtures, MIG disabled) and, for MIG-enabled output,
NVIDIA's MIG user guide examples:
https://docs.nvidia.com/datacenter/tesla/mig-user-guide/getting-started-with-mig.html
(`-lgip`, `-lgipp`, `-lgi`, `-lci`, `-L` with MIG devices) and the `nvidia-smi -q -x`
schema (nvsmi_device_v12.dtd: `mig_devices/mig_device/{index,gpu_instance_id,compute_instance_id}`,
`processes/process_info/{gpu_instance_id,compute_instance_id,pid,process_name,used_memory}`).
Newer drivers add a `Placement Start:Size` column to `-lci`; both forms are accepted.

Anything that does not match raises `ParseError` quoting the offending line.
"""
from migfleet.mig.smi.commands import (  # noqa: F401
    create_cis, create_gis, destroy_ci, destroy_gi, disable_mig, enable_mig, gi_id_at, list_gis, mig_mode,
    parse_mig_mode, reset_gpu,
)
from migfleet.mig.smi.errors import NO_MIG_DEVICES, DriverUnavailable, ParseError  # noqa: F401
from migfleet.mig.smi.listings import (  # noqa: F401
    QUERY_FIELDS, ListedGpu, ListedMigDevice, XmlGpu, parse_list, parse_query_gpu, parse_query_xml,
)
from migfleet.mig.smi.snapshot import (  # noqa: F401
    COMMANDS, NAMES, SNAPSHOT_COMMAND, SNAPSHOT_SECTIONS, geometry_command, parse_geometry, parse_sections,
    parse_snapshot,
)
from migfleet.mig.smi.tables import (  # noqa: F401
    LgipRow, architecture_of, geometry_from_lgip, parse_lci, parse_lgi, parse_lgip, parse_lgipp,
)
