"""The read of what each Triton serves now, for planning lends and drains."""
from __future__ import annotations

import subprocess

from migfleet.facts import served
from migfleet.serving import triton


def _run_file(name: str, gi: int, profile: str, models) -> str:
    return triton.Triton(name, triton.Place(0, gi, 0, "GPU-a", profile), triton.TritonPorts(1, 2, 3),
                         ("--label", "x"), "c", tuple(models)).to_json()


def test_served_file_wins_over_the_run_file_and_broken_run_files_are_left_out(tmp_path):
    run, srv = tmp_path / "run", tmp_path / "served"
    run.mkdir(), srv.mkdir()
    (run / "triton-gpu0-s0.json").write_text(_run_file("triton-gpu0-s0", 0, "4g.40gb", ["a"]))
    (run / "triton-gpu0-s4.json").write_text(_run_file("triton-gpu0-s4", 4, "3g.40gb", ["b"]))
    (run / "broken.json").write_text("{")
    (srv / "triton-gpu0-s4").write_text("b\na\n")
    (srv / ".triton-gpu0-s4.tmp").write_text("zzz\n")
    command = served.COMMAND.replace(triton.RUN_DIR, str(run)).replace(served.SERVED_DIR, str(srv))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    parsed = served.ServedModels().process(out.splitlines())
    assert parsed == {"triton-gpu0-s0": ("4g.40gb", ("a",)), "triton-gpu0-s4": ("3g.40gb", ("b", "a"))}


def test_nothing_there_reads_as_no_triton():
    assert served.ServedModels().process([]) == {}
