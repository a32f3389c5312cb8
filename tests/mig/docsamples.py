"""MIG-enabled nvidia-smi output, from NVIDIA's MIG user guide examples.

Source: https://docs.nvidia.com/datacenter/tesla/mig-user-guide/getting-started-with-mig.html
(two 3g.20gb GPU instances on an A100-SXM4-40GB; `-lci` with three 1c.3g.20gb CIs).
The `-lci` placement of a full-size 3g CI (0:4) follows published H100 listings of `3g.40gb`.
Column spacing as nvidia-smi prints it (the guide's HTML collapses runs of spaces); the `-lci`
placement column appears in newer drivers, e.g. the listing quoted in NVIDIA/gpu-operator issues.
"""

A100_UUID = "GPU-e86cb44c-6756-fd30-cd4a-1e6da3caf9b0"

LGI_TWO_3G = """\
+-------------------------------------------------------+
| GPU instances:                                        |
| GPU   Name             Profile  Instance   Placement  |
|                          ID       ID       Start:Size |
|=======================================================|
|   0  MIG 3g.20gb          9        1          4:4     |
+-------------------------------------------------------+
|   0  MIG 3g.20gb          9        2          0:4     |
+-------------------------------------------------------+
"""

LCI_TWO_3G = """\
+--------------------------------------------------------------------+
| Compute instances:                                                 |
| GPU     GPU       Name             Profile   Instance   Placement  |
|       Instance                       ID        ID       Start:Size |
|         ID                                                         |
|====================================================================|
|   0      1       MIG 3g.20gb          2         0          0:4     |
+--------------------------------------------------------------------+
|   0      2       MIG 3g.20gb          2         0          0:4     |
+--------------------------------------------------------------------+
"""

# The guide's older form, without the placement column.
LCI_THREE_1C_NO_PLACEMENT = """\
+-------------------------------------------------------+
| Compute instances:                                    |
| GPU     GPU       Name             Profile   Instance |
|       Instance                       ID        ID     |
|         ID                                            |
|=======================================================|
|   0      1       MIG 1c.3g.20gb       0         0     |
+-------------------------------------------------------+
|   0      1       MIG 1c.3g.20gb       0         1     |
+-------------------------------------------------------+
|   0      1       MIG 1c.3g.20gb       0         2     |
+-------------------------------------------------------+
"""

LGIP_A100 = """\
+-----------------------------------------------------------------------------+
| GPU instance profiles:                                                      |
| GPU   Name             ID    Instances   Memory     P2P    SM    DEC   ENC  |
|                              Free/Total   GiB              CE    JPEG  OFA  |
|=============================================================================|
|   0  MIG 1g.5gb        19     7/7        4.75       No     14     0     0   |
|                                                             1     0     0   |
+-----------------------------------------------------------------------------+
|   0  MIG 1g.5gb+me     20     1/1        4.75       No     14     1     0   |
|                                                             1     1     1   |
+-----------------------------------------------------------------------------+
|   0  MIG 1g.10gb       15     4/4        9.62       No     14     1     0   |
|                                                             1     0     0   |
+-----------------------------------------------------------------------------+
|   0  MIG 2g.10gb       14     3/3        9.62       No     28     1     0   |
|                                                             2     0     0   |
+-----------------------------------------------------------------------------+
|   0  MIG 3g.20gb        9     2/2        19.50      No     42     2     0   |
|                                                             3     0     0   |
+-----------------------------------------------------------------------------+
|   0  MIG 4g.20gb        5     1/1        19.50      No     56     2     0   |
|                                                             4     0     0   |
+-----------------------------------------------------------------------------+
|   0  MIG 7g.40gb        0     1/1        39.25      No     98     5     0   |
|                                                             7     1     1   |
+-----------------------------------------------------------------------------+
"""

LGIPP_A100 = """\
GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1
GPU  0 Profile ID 20 Placements: {0,1,2,3,4,5,6}:1
GPU  0 Profile ID 15 Placements: {0,2,4,6}:2
GPU  0 Profile ID 14 Placements: {0,2,4}:2
GPU  0 Profile ID  9 Placements: {0,4}:4
GPU  0 Profile ID  5 Placement : {0}:4
GPU  0 Profile ID  0 Placement : {0}:8
"""

L_TWO_3G = f"""\
GPU 0: A100-SXM4-40GB (UUID: {A100_UUID})
  MIG 3g.20gb     Device  0: (UUID: MIG-c7384736-a75d-5afc-978f-d2f1294409fd)
  MIG 3g.20gb     Device  1: (UUID: MIG-a28ad590-3fda-56dd-84fc-0a0b96edc58d)
"""

QUERY_TWO_3G = f"0, {A100_UUID}, A100-SXM4-40GB, 00000000:36:00.0, Enabled, Enabled, 40537, 450.80.02\n"

# -q -x trimmed to the elements migfleet reads (nvsmi_device_v12.dtd element names).
XML_TWO_3G = f"""\
<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
\t<driver_version>450.80.02</driver_version>
\t<attached_gpus>1</attached_gpus>
\t<gpu id="00000000:36:00.0">
\t\t<product_name>A100-SXM4-40GB</product_name>
\t\t<mig_mode>
\t\t\t<current_mig>Enabled</current_mig>
\t\t\t<pending_mig>Enabled</pending_mig>
\t\t</mig_mode>
\t\t<mig_devices>
\t\t\t<mig_device>
\t\t\t\t<index>0</index>
\t\t\t\t<gpu_instance_id>1</gpu_instance_id>
\t\t\t\t<compute_instance_id>0</compute_instance_id>
\t\t\t\t<fb_memory_usage><total>20224 MiB</total><used>268 MiB</used></fb_memory_usage>
\t\t\t</mig_device>
\t\t\t<mig_device>
\t\t\t\t<index>1</index>
\t\t\t\t<gpu_instance_id>2</gpu_instance_id>
\t\t\t\t<compute_instance_id>0</compute_instance_id>
\t\t\t</mig_device>
\t\t</mig_devices>
\t\t<uuid>{A100_UUID}</uuid>
\t\t<processes>
\t\t\t<process_info>
\t\t\t\t<gpu_instance_id>1</gpu_instance_id>
\t\t\t\t<compute_instance_id>0</compute_instance_id>
\t\t\t\t<pid>58866</pid>
\t\t\t\t<type>C</type>
\t\t\t\t<process_name>./BlackScholes</process_name>
\t\t\t\t<used_memory>253 MiB</used_memory>
\t\t\t</process_info>
\t\t</processes>
\t</gpu>
</nvidia_smi_log>
"""


def snapshot(sections: dict[str, tuple[int, str]]) -> str:
    """Text as SNAPSHOT_COMMAND prints it, from {section: (rc, output)}."""
    out = []
    for name, (rc, text) in sections.items():
        out += [f"@@migfleet {name}", text.rstrip("\n"), f"@@migfleet rc={rc}"]
    return "\n".join(out) + "\n"


TWO_3G_SECTIONS = {"query": (0, QUERY_TWO_3G), "list": (0, L_TWO_3G), "lgi": (0, LGI_TWO_3G),
                   "lci": (0, LCI_TWO_3G), "xml": (0, XML_TWO_3G)}
