"""What the deploy machine keeps of each host's last read: only for that host and read, and never an error."""
from __future__ import annotations

import pytest

from migfleet.facts import view_cache
from migfleet.mig.state import GpuState


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))


GPU = GpuState(0, "GPU-1", "NVIDIA H100 80GB HBM3", "0000:01:00.0", True, True)


def test_a_kept_value_comes_back_for_its_host_and_read_only():
    kept = view_cache.Kept("a" * 64, {"GPU-1": GPU})
    view_cache.save("drift", "h1", "key1", kept)
    assert view_cache.load("drift", "h1", "key1") == kept
    assert view_cache.load("drift", "h1", "key2") is None        # another read
    assert view_cache.load("drift", "h2", "key1") is None        # another host
    assert view_cache.load("deploy", "h1", "key1") is None       # another kind of read
    view_cache.forget("drift", "h1")
    assert view_cache.load("drift", "h1", "key1") is None


def test_host_names_that_are_no_file_names_are_kept_apart():
    view_cache.save("deploy", "@ssh/a/b", "k", view_cache.Kept("1" * 64, 1))
    view_cache.save("deploy", "@ssh_a_b", "k", view_cache.Kept("2" * 64, 2))
    assert view_cache.load("deploy", "@ssh/a/b", "k").value == 1 and view_cache.load("deploy", "@ssh_a_b", "k").value == 2


def test_a_corrupt_or_unwritable_cache_means_a_full_read(tmp_path):
    view_cache.save("deploy", "h1", "k", view_cache.Kept("1" * 64, 1))
    next(view_cache.folder().iterdir()).write_bytes(b"not a pickle")
    assert view_cache.load("deploy", "h1", "k") is None
    (tmp_path / "migfleet").chmod(0o500)
    try:
        view_cache.save("deploy", "h9", "k", view_cache.Kept("1" * 64, 1))     # no error
    finally:
        (tmp_path / "migfleet").chmod(0o700)


def test_the_read_key_is_the_commands_digest():
    assert view_cache.read_key("echo a") != view_cache.read_key("echo b")
    assert len(view_cache.read_key("echo a")) == 64
