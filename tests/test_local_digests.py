"""Local digests cached by (absolute path, size, mtime_ns); a broken cache only costs the reading."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from migfleet import local_digests
from migfleet.local_digests import LocalFile


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def same_stat_other_bytes(path: Path, data: bytes) -> None:
    """New content of the same size, with the old mtime put back: only a read can tell."""
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_file_is_read_once_while_its_size_and_mtime_stay(tmp_path):
    f, cache = tmp_path / "w.bin", tmp_path / "cache.json"
    f.write_bytes(b"weights")
    assert local_digests.digests([f], cache) == {str(f): sha(b"weights")}
    same_stat_other_bytes(f, b"WEIGHTS")
    assert local_digests.digests([f], cache) == {str(f): sha(b"weights")}      # from the cache, not read
    os.utime(f, ns=(0, f.stat().st_mtime_ns + 1))
    assert local_digests.digests([f], cache) == {str(f): sha(b"WEIGHTS")}      # mtime moved: read again
    assert json.loads(cache.read_text())[str(f)] == [7, f.stat().st_mtime_ns, sha(b"WEIGHTS")]


def test_the_cache_lives_in_the_users_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert local_digests.cache_file() == tmp_path / "xdg" / "migfleet" / "digests.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert local_digests.cache_file() == tmp_path / "home" / ".cache" / "migfleet" / "digests.json"
    f = tmp_path / "m.py"
    f.write_bytes(b"m")
    local_digests.digests([f])
    assert str(f) in json.loads(local_digests.cache_file().read_text())


def test_a_corrupt_cache_is_ignored_and_replaced(tmp_path):
    f, cache = tmp_path / "w.bin", tmp_path / "cache.json"
    f.write_bytes(b"w")
    for junk in ("{not json", "[1, 2]", json.dumps({str(f): "x"}), json.dumps({str(f): [1, 2, 3]})):
        cache.write_text(junk)
        assert local_digests.digests([f], cache) == {str(f): sha(b"w")}
        assert json.loads(cache.read_text())[str(f)][2] == sha(b"w")


def test_an_unwritable_cache_is_ignored(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"w")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert local_digests.digests([f], blocker / "migfleet" / "digests.json") == {str(f): sha(b"w")}
    assert blocker.read_text() == "" and sorted(tmp_path.iterdir()) == sorted([f, blocker])


def test_entries_of_files_that_are_gone_are_dropped(tmp_path):
    a, b, cache = tmp_path / "a", tmp_path / "b", tmp_path / "cache.json"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    local_digests.digests([a, b], cache)
    a.unlink()
    b.write_bytes(b"bb")
    local_digests.digests([b], cache)
    assert set(json.loads(cache.read_text())) == {str(b)}


def test_local_files_are_keyed_by_path_under_the_root(tmp_path):
    (tmp_path / "repo" / "m" / "1").mkdir(parents=True)
    (tmp_path / "repo" / "m" / "1" / "model.py").write_bytes(b"py")
    got = local_digests.local_files(tmp_path / "repo", [tmp_path / "repo" / "m" / "1" / "model.py"],
                                    tmp_path / "cache.json")
    assert got == {"m/1/model.py": LocalFile(str(tmp_path / "repo" / "m" / "1" / "model.py"), sha(b"py"))}
