"""The code the deploy copies to hosts runs there on its own: stdlib Python 3, nothing else."""
from __future__ import annotations

import subprocess

from migfleet.deploys import context


def test_host_code_imports_with_the_standard_library_only(tmp_path):
    for name, data in context.host_code().items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # -S -E: no site-packages, no PYTHONPATH from the environment; only what the deploy copied
    done = subprocess.run(["/usr/bin/python3", "-S", "-E", "-c",
                           f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
                           "import migfleet.mig.boot, migfleet.serving.rotation, migfleet.serving.rebind; "
                           "from migfleet.mig import catalog; assert catalog.lookup('NVIDIA H100 80GB HBM3')"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert all(name.startswith("migfleet/") for name in context.host_code())
    assert "migfleet/mig/smi/snapshot.py" in context.host_code()
