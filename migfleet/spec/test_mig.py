"""MIG mode and GI/CI layout as the inventory declares; the boot-time unit enabled."""
import pytest

from migfleet.mig import boot, catalog, placed
from migfleet.fleet import ssh as fleet
from migfleet.fleet import checks as spec_checks

BOOT_UNIT = "migfleet-mig.service"


def _geometry_reader(spec_host):
    def geometry_for(gpu):
        return catalog.lookup(gpu.name) or fleet.read_geometry(spec_host.target, gpu)
    return geometry_for


def _layout_findings(spec_host, inventory_data):
    return spec_checks.compare_host(spec_host.name, spec_host.live, inventory_data.get("mig_layout") or [],
                                    _geometry_reader(spec_host))


def test_mig_mode(spec_host, inventory_data):
    found = [m for m in _layout_findings(spec_host, inventory_data) if m.field.startswith("MIG mode")]
    if found:
        pytest.fail("\n" + spec_checks.report(found), pytrace=False)


def test_mig_layout(spec_host, inventory_data):
    found = [m for m in _layout_findings(spec_host, inventory_data) if not m.field.startswith("MIG mode")]
    if found:
        pytest.fail("\n" + spec_checks.report(found), pytrace=False)


def test_boot_unit_enabled(spec_host):
    result = spec_host.run(f"systemctl is-enabled {BOOT_UNIT}")
    state = (result.stdout or result.stderr).strip() or f"exit {result.rc}"
    if result.rc != 0 or state != "enabled":
        pytest.fail(f"{spec_host.name}: {BOOT_UNIT}: expected enabled, found {state}", pytrace=False)


def test_boot_record_is_the_live_layout(spec_host, inventory_data):
    """What the boot unit will restore is what the GPUs hold now (so a reboot changes nothing)."""
    text = spec_host.run(f"cat {boot.RECORD_PATH}").stdout
    if not text:
        pytest.fail(f"{spec_host.name}: {boot.RECORD_PATH}: expected the boot record, found none", pytrace=False)
    found = []
    for uuid, rec in boot.parse_record(text).items():
        gpu = spec_host.live.get(uuid)
        if gpu is None:
            found.append(f"{spec_host.name}: boot record names GPU {uuid}, which nvidia-smi does not list")
            continue
        found += [f"{spec_host.name} GPU {gpu.index} ({gpu.pci_bus_id}, {uuid}): boot record: {field}: recorded {want}, "
                  f"live {got}"
                  for field, want, got in placed.differences(rec.layout, placed.live(gpu), catalog.lookup(gpu.name))]
    if found:
        pytest.fail("\n" + "\n".join(found), pytrace=False)
