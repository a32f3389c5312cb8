"""One assignment of a user's module set, every other byte kept, or nothing changed and the file
and the reason named."""
import os
import runpy
import stat

import pytest

from migfleet.inventory.module_edit import ModuleEditError, module_text, set_assignment, write_file

RULES = [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}]
SOURCE = "[\n    {'gpus': 'all', 'instances': [{'profile': '1g.5gb', 'count': 7}]},\n]"
PLAIN = "not one plain `mig_layout = [...]`; rewriting it would drop that code"


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIGFLEET_LOAD_TIMEOUT", "0.5")
    return tmp_path


def refused(path, data: bytes) -> str:
    """The message of a refused write, after checking the file is byte for byte what it was."""
    with open(path, "wb") as fh:
        fh.write(data)
    with pytest.raises(ModuleEditError) as exc:
        set_assignment(path, "mig_layout", RULES, SOURCE, ["migfleet test: note"])
    assert open(path, "rb").read() == data
    assert sorted(os.listdir(".")) == [path]            # no temporary file, no backup left behind
    return str(exc.value)


@pytest.mark.parametrize("text, message", [
    ("mig_layout = []\nmig_layout = [1]\n", "mig_layout is assigned more than once (line 1: `=`, line 2: `=`); only "
     "a module with one plain `mig_layout = [...]` can be rewritten exactly"),
    ("mig_layout = []\ndel mig_layout\n", "mig_layout is assigned more than once (line 1: `=`, line 2: deleted "
     "(`del`)); only a module with one plain `mig_layout = [...]` can be rewritten exactly"),
    ("mig_layout = []\nmig_layout += [{'gpus': 'all', 'mig': False}]\n", "mig_layout is assigned more than once "
     "(line 1: `=`, line 2: changed by `+=`); only a module with one plain `mig_layout = [...]` can be rewritten "
     "exactly"),
    ("mig_layout += [1]\n", f"line 1: mig_layout is changed by `+=` (`mig_layout += [1]`), {PLAIN}"),
    ("mig_layout: list = []\n", f"line 1: mig_layout is an annotated assignment (`mig_layout: list = []`), {PLAIN}"),
    ("mig_layout = build()\n", "line 1: mig_layout is computed (a call: `build()`), not written as a literal; "
     "rewriting it would drop that code"),
    ("mig_layout = [r for r in range(3)]\n", "line 1: mig_layout is computed (a comprehension: "
     "`[r for r in range(3)]`), not written as a literal; rewriting it would drop that code"),
    ("_base = []\nmig_layout = _base\n", "line 2: mig_layout is computed (another name: `_base`), not written as a "
     "literal; rewriting it would drop that code"),
    ("mig_layout = [{'gpus': 'all', 'mig': False}] * 2\n", "line 1: mig_layout is computed (an expression: "
     "`[{'gpus': 'all', 'mig': False}] * 2`), not written as a literal; rewriting it would drop that code"),
    ("if True:\n    mig_layout = []\n", f"line 2: mig_layout is assigned inside an `if` block (`mig_layout = []`), "
     f"{PLAIN}"),
    ("try:\n    mig_layout = []\nexcept Exception:\n    pass\n",
     f"line 2: mig_layout is assigned inside a `try` block (`mig_layout = []`), {PLAIN}"),
    ("for mig_layout in [[]]:\n    pass\n", f"line 1: mig_layout is bound by a `for` statement "
     f"(`mig_layout`), {PLAIN}"),
    ("x = (mig_layout := [])\n", f"line 1: mig_layout is assigned by `:=` (`mig_layout := []`), {PLAIN}"),
    ("a = mig_layout = []\n", f"line 1: mig_layout is assigned together with other names (`a = mig_layout = []`), "
     f"{PLAIN}"),
    ("from somewhere import mig_layout\n", "line 1: mig_layout is imported (pyinfra leaves imported names out of group "
     f"data) (`from somewhere import mig_layout`), {PLAIN}"),
    ("def mig_layout():\n    return []\n", f"line 1: mig_layout is defined by `def` (`def mig_layout():`), {PLAIN}"),
    ("def f():\n    global mig_layout\n    mig_layout = []\n", "line 2: mig_layout is declared global in a function, "
     f"which may assign it (`global mig_layout`), {PLAIN}"),
    ("globals()['mig_layout'] = []\n", "line 1: the module writes its own namespace (`globals()['mig_layout']`), "
     "which may set mig_layout"),
    ("globals().update(mig_layout=[])\n", "line 1: the module writes its own namespace "
     "(`globals().update(mig_layout=[])`), which may set mig_layout"),
    ("mig_layout = []\nfrom os.path import *\n", "line 2: `from os.path import *` may define mig_layout"),
    ("mig_layout = []\nother = len(mig_layout)\n", "line 2: mig_layout is read by the module's own code "
     "`other = len(mig_layout)`; values computed from it would change with it"),
    ("hosts = ['h1', 'h2']\n", "holds hosts (host group hosts: 2 host(s)): it is an inventory file, not group data; "
     "mig_layout goes in the group data module of a group, e.g. group_data/hosts.py"),
    ("a100 = [(f'gpu-{n}', {'ssh_user': 'root'}) for n in range(4)]\n", "holds hosts (host group a100: 4 host(s)): it "
     "is an inventory file, not group data; mig_layout goes in the group data module of a group, e.g. "
     "group_data/a100.py"),
    ("gpu_models = ['A100'\nmig_layout = []\n", "line 1: does not parse ('[' was never closed): "
     "`gpu_models = ['A100'`; fix it first"),
    ("x = 1\n\0\n", "line 2: holds a NUL byte, which no Python module does"),
    ("x = 1\nraise RuntimeError('boom')\n", "line 2: does not run (RuntimeError: boom); fix it first"),
    ("import sys\nsys.exit(3)\n", "line 2: does not run (the inventory code called sys.exit(3); inventory files must "
     "only define hosts and data); fix it first"),
    ("x = 1\nwhile True:\n    pass\n", "line 2: does not run (still running after 0.5 s: inventory and group data "
     "files must only define hosts and data (a loop that never ends? MIGFLEET_LOAD_TIMEOUT sets the limit)); fix it "
     "first"),
    ("__all__ = ['gpu_models']\ngpu_models = []\n", "its __all__ leaves out mig_layout, so pyinfra would not read "
     "it; add 'mig_layout' to __all__"),
])
def test_each_refusal_names_the_file_and_why_and_changes_nothing(here, text, message):
    assert refused("m.py", text.encode()) == f"m.py: {message}"


@pytest.mark.parametrize("data, message", [
    ("x = 'caf\xe9'\n".encode("latin-1"), "line 1: byte 0xe9 is not UTF-8"),
    (b"a = 1\r\nb = 2\rc = '\xe9'\n", "line 3: byte 0xe9 is not UTF-8"),       # CR alone ends a line too
    ("x = 1\n".encode("utf-16"), "line 1: byte 0xff is not UTF-8"),
])
def test_a_module_that_is_not_utf8_is_refused_with_its_line(here, data, message):
    assert refused("m.py", data) == f"m.py: {message}; pyinfra reads group data as UTF-8 (save the file as UTF-8)"


def test_a_byte_order_mark_is_refused(here):
    assert refused("m.py", b"\xef\xbb\xbfx = 1\n") == ("m.py: line 1: starts with a byte order mark, which pyinfra "
                                                       "cannot run (save it as UTF-8 without BOM)")


@pytest.mark.parametrize("name", ["demand.json", "capacity.yaml", "mig_layout"])
def test_a_file_that_is_not_a_python_module_is_refused(here, name):
    assert refused(name, b'{"version": 1}\n') == (
        f"{name}: is not a Python module (the name does not end in .py); mig_layout is written only into a group "
        "data module, e.g. group_data/GROUP.py")


def test_a_folder_is_refused(here):
    (here / "group_data.py").mkdir()
    with pytest.raises(ModuleEditError) as exc:
        set_assignment("group_data.py", "mig_layout", RULES)
    assert str(exc.value) == ("group_data.py: is a folder; name the module file to write in it, e.g. "
                              "group_data.py/GROUP.py")
    with pytest.raises(ModuleEditError) as exc:
        write_file("group_data.py", "[]\n")
    assert str(exc.value) == "group_data.py: is a folder; name the file to write, e.g. group_data.py/FILE"


def test_replacing_keeps_every_other_byte(here):
    before = (b'"""Mine."""\r\nimport os\r\ngpu_models = ["A"] * 8  # eight\r\n# migfleet advise: an earlier note\r\n'
              b"mig_layout = [\r\n    {'gpus': 'all', 'mig': False},\r\n]  # trailing\r\nextra = 1")
    (here / "m.py").write_bytes(before)
    os.chmod("m.py", 0o640)
    assert set_assignment("m.py", "mig_layout", RULES, SOURCE, ["migfleet test: new note"]) == "replaced"
    after = (here / "m.py").read_bytes()
    block = SOURCE.replace("\n", "\r\n").encode()
    assert after == (b'"""Mine."""\r\nimport os\r\ngpu_models = ["A"] * 8  # eight\r\n# migfleet test: new note\r\n'
                     b"mig_layout = " + block + b"  # trailing\r\nextra = 1")
    assert stat.S_IMODE(os.stat("m.py").st_mode) == 0o640
    assert runpy.run_path("m.py")["mig_layout"] == RULES


def test_only_a_writers_own_note_goes_with_the_assignment(here):
    (here / "m.py").write_text("# migfleet is what writes this\n# migfleet import: an earlier note\nmig_layout = []\n")
    set_assignment("m.py", "mig_layout", [], note=["migfleet test: new"])
    assert (here / "m.py").read_text() == "# migfleet is what writes this\n# migfleet test: new\nmig_layout = []\n"


def test_an_assignment_after_a_semicolon_is_replaced_in_place(here):
    (here / "m.py").write_text("x = 1; mig_layout = []; y = 2\n")
    set_assignment("m.py", "mig_layout", RULES, note=["migfleet test: not written mid-line"])
    assert (here / "m.py").read_text() == f"x = 1; mig_layout = {RULES!r}; y = 2\n"


def test_adding_keeps_the_module_and_its_line_ends(here):
    (here / "m.py").write_bytes(b"gpu_models = ['A']\r\nx = 1")         # no final line end
    assert set_assignment("m.py", "mig_layout", RULES, note=["migfleet test: added"]) == "added"
    assert (here / "m.py").read_bytes() == (b"gpu_models = ['A']\r\nx = 1\r\n\r\n# migfleet test: added\r\n"
                                           b"mig_layout = " + repr(RULES).encode() + b"\r\n")


def test_a_missing_module_and_folder_are_created(here):
    path = here / "group_data" / "new" / "a100.py"
    assert set_assignment(path, "mig_layout", RULES, SOURCE, ["migfleet test: made"], '"""New."""\n\n') == "created"
    assert path.read_text() == module_text("mig_layout", SOURCE, ["migfleet test: made"], '"""New."""\n\n')
    assert path.read_text().startswith('"""New."""\n\n# migfleet test: made\nmig_layout = [\n')
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_linked_module_is_edited_where_it_is(here):
    (here / "real.py").write_text("x = 1\n")
    os.symlink("real.py", "link.py")
    set_assignment("link.py", "mig_layout", RULES)
    assert os.path.islink("link.py") and "mig_layout" in (here / "real.py").read_text()


def test_code_that_changes_the_value_after_it_is_caught_by_the_run_and_the_original_put_back(here):
    text = "mig_layout = []\nexec('mig_layout = 5')\n"       # no static check sees through exec
    (here / "m.py").write_text(text)
    inode = os.stat("m.py").st_ino
    with pytest.raises(ModuleEditError) as exc:
        set_assignment("m.py", "mig_layout", RULES)
    assert str(exc.value) == ("m.py: after writing, the module's mig_layout is not the value written (something else "
                              "in the module changes it); the original was put back")
    assert (here / "m.py").read_text() == text and os.stat("m.py").st_ino == inode
    assert sorted(os.listdir(".")) == ["m.py"]


def test_another_value_computed_from_it_is_caught_by_the_run(here):
    text = "def _count():\n    return len(mig_layout)\n\nmig_layout = []\ncount = _count()\n"
    (here / "m.py").write_text(text)
    with pytest.raises(ModuleEditError, match=r"^m.py: after writing, count changed too; the original was put back$"):
        set_assignment("m.py", "mig_layout", RULES)
    assert (here / "m.py").read_text() == text


def test_group_data_lists_are_not_hosts(here):
    text = "gpu_models = ['NVIDIA A100-SXM4-40GB'] * 8\nmig_reset_services = ['dcgm-exporter.service']\n_x = ['a']\n"
    (here / "m.py").write_text(text)
    assert set_assignment("m.py", "mig_layout", RULES) == "added"
    assert runpy.run_path("m.py")["gpu_models"] == ["NVIDIA A100-SXM4-40GB"] * 8


def test_a_source_that_does_not_say_the_value_is_the_writers_mistake(here):
    with pytest.raises(ValueError, match="the source does not say the value"):
        set_assignment("m.py", "mig_layout", RULES, "[]")
    assert not (here / "m.py").exists()


def test_write_file_makes_the_folder_and_replaces_the_file_whole(here):
    write_file("out/deeper/targets.json", "[1]\n")
    assert (here / "out" / "deeper" / "targets.json").read_text() == "[1]\n"
    os.chmod("out/deeper/targets.json", 0o600)
    write_file("out/deeper/targets.json", "[2]\n")
    assert (here / "out" / "deeper" / "targets.json").read_text() == "[2]\n"
    assert stat.S_IMODE(os.stat("out/deeper/targets.json").st_mode) == 0o600
    assert os.listdir("out/deeper") == ["targets.json"]
    write_file(os.devnull, "written to a device as it is\n")
