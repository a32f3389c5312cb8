"""A model repository as the sync copies it and Triton reads it: one walk for both (links out of the
repository refused, never uploaded), version folders, and the top-level name of a config.pbtxt."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from migfleet.deploys import serving_plan
from migfleet.inventory import model_files, validate_inventory
from migfleet.inventory.errors import shown
from migfleet.inventory.model_files import Link, config_name

A40 = "NVIDIA A100-SXM4-40GB"


@pytest.fixture
def repo(tmp_path) -> Path:
    """models/: 'a' (a file, a link to it, version 2 a link to version 1), links out, a loop, caches."""
    root = tmp_path / "models"
    (root / "a" / "1" / "__pycache__").mkdir(parents=True)
    (root / "a" / "config.pbtxt").write_text('name: "a"\n')
    (root / "a" / "1" / "model.py").write_text("weights = 1\n")
    (root / "a" / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"cache")
    (root / "a" / "1" / "old.pyc").write_bytes(b"cache")
    (root / "a" / "1" / "same.py").symlink_to("model.py")
    (root / "a" / "2").symlink_to("1")
    (root / "a" / "1" / "back").symlink_to("..")
    (tmp_path / "secret.txt").write_text("a file of the deploy machine\n")
    (root / "a" / "1" / "secret.txt").symlink_to(tmp_path / "secret.txt")
    (root / "elsewhere").symlink_to(tmp_path)
    (root / "a" / "odd\nname").write_text("no manifest line holds it\n")
    return root


def rel(root: Path, paths) -> list[str]:
    return [str(p.relative_to(root)) for p in paths]


def test_the_walk_copies_files_and_links_inside_and_refuses_links_out(repo, tmp_path):
    tree = model_files.walk(repo)
    assert rel(repo, tree.files) == ["a/1/model.py", "a/1/same.py", "a/2/model.py", "a/2/same.py", "a/config.pbtxt"]
    assert tree.refused == (Link("a/1/back", "..", loop=True), Link("a/1/secret.txt", str(tmp_path / "secret.txt")),
                            Link("a/2/back", "..", loop=True), Link("a/2/secret.txt", str(tmp_path / "secret.txt")),
                            Link("elsewhere", str(tmp_path)))


def test_the_sync_uploads_exactly_what_validate_checked(repo):
    serving_plan._models_at.cache_clear()
    uploaded = serving_plan._models_at(str(repo))
    assert sorted(uploaded) == rel(repo, model_files.walk(repo).files)
    assert not any("secret" in name for name in uploaded)
    assert uploaded["a/2/model.py"].path == str(repo / "a" / "2" / "model.py")      # read through the link


def test_a_repository_that_is_itself_a_link_is_walked_where_it_points(repo, tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "models").symlink_to(repo)
    tree = model_files.walk(tmp_path / "project" / "models")
    assert len(tree.files) == 5 and [link.path for link in tree.refused][-1] == "elsewhere"


def test_validate_names_each_problem_with_host_path_and_model(repo):
    (repo / "b").mkdir()
    (repo / "b" / "config.pbtxt").write_text('input [ { name: "b" } ]\nname: "B"\n')
    hosts = {"h1": {"gpu_models": [A40], "triton_model_repository": "models", "mig_layout": [
        {"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 1, "models": ["b"]},
                                      {"profile": "3g.20gb", "count": 1, "models": ["a"]}]}]},
             "h2": {"gpu_models": [A40], "triton_model_repository": "models"}}
    found = [str(e) for e in validate_inventory(hosts, folder=repo.parent)]
    out = ("outside the model repository: the sync sends the hosts only files inside it (copy the file in, or link "
           "to one inside)")
    secret = shown(str(repo.parent / "secret.txt"))     # a long target is cut
    for host, a, b in (("h1", "$.mig_layout[0].instances[1].models[0]", "$.mig_layout[0].instances[0].models[0]"),
                       ("h2", "$.triton_model_repository", "$.triton_model_repository")):
        assert [line for line in found if line.startswith(host + ":")] == [
            f"{host}: $.triton_model_repository: elsewhere is a link to {shown(str(repo.parent))}, {out}",
            f"{host}: {a}: model 'a': a/1/back is a link to '..', a folder that holds the link: a loop",
            f"{host}: {a}: model 'a': a/1/secret.txt is a link to {secret}, {out}",
            f"{host}: {a}: model 'a': a/2/back is a link to '..', a folder that holds the link: a loop",
            f"{host}: {a}: model 'a': a/2/secret.txt is a link to {secret}, {out}",
            f"{host}: {b}: model 'b' has no version folder: Triton loads a model's versions from folders named by "
            "number (1/, 2/, ...); it has: config.pbtxt",
            f"{host}: {b}: model 'b': config.pbtxt line 2 names it 'B' (name: \"B\"), but its folder is 'b': "
            "Triton loads a model only under its folder's name"]


def test_a_mig_only_host_syncs_nothing_and_is_not_told(repo):
    hosts = {"h1": {"gpu_models": [A40], "triton_model_repository": "models", "mig_only": True}}
    assert validate_inventory(hosts, folder=repo.parent) == []


@pytest.mark.parametrize("text, want", [
    ('name: "resnet"\n', ("resnet", 1, 'name: "resnet"')),
    ("name:'resnet'", ("resnet", 1, "name:'resnet'")),
    ('# name: "x"\nplatform: "onnxruntime_onnx"\nname : "y" # after\n', ("y", 3, 'name : "y"')),
    ('input [ { name: "IN" dims: [ 1 ] } ]\noutput < name: "OUT" >\nname: "m"', ("m", 3, 'name: "m"')),
    ('name:\n  "long"\n  "name"\n', ("longname", 1, 'name: "long" "name"')),
    ('name: "a\\"b"', ('a"b', 1, 'name: "a\\"b"')),
    ('max_batch_size: 8\nmodel_name: "x"\n', None),        # another field whose name ends in name
    ('name: 5\n', None),                                    # not a string: Triton's parser says why
    ('name: "open\n', None),
    ('input { name: "x" }\n', None),
    ("\u00e9 name: 'x'", ("x", 1, "name: 'x'")),
    ("", None),
])
def test_the_top_level_name_of_a_config(text, want):
    assert config_name(text) == want


PBTXT = st.lists(st.sampled_from(['name', ':', ' ', '"', "'", '\\', '#', '\n', '{', '}', '[', ']', '<', '>', 'x',
                                    '\u00e9', 'input', '5']), max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(PBTXT, st.text(max_size=200)))
def test_any_config_text_gives_a_name_or_none_and_never_raises(text):
    found = config_name(text)
    if found is not None:
        name, line, quoted = found
        assert 1 <= line <= text.count("\n") + 1 and quoted.startswith("name") and "\n" not in quoted


def test_a_version_folder_is_named_by_ascii_digits(tmp_path):
    for name in ("\u0661", "v1", "1.0"):            # an Arabic-Indic one, a letter, a dot: Triton skips them
        (tmp_path / "m" / name).mkdir(parents=True)
    (tmp_path / "m" / "config.pbtxt").write_text('backend: "python"\n')
    (tmp_path / "m" / "2").write_text("a file, not a folder\n")
    problems = model_files.model_problems(tmp_path, "m", model_files.walk(tmp_path))
    assert problems == ["model 'm' has no version folder: Triton loads a model's versions from folders named by "
                        "number (1/, 2/, ...); it has: 1.0/, 2, config.pbtxt, v1/, \\u0661/"]
    (tmp_path / "m" / "10").mkdir()
    assert model_files.model_problems(tmp_path, "m", model_files.walk(tmp_path)) == []


def test_an_unreadable_folder_is_named_and_the_rest_still_walked(tmp_path, monkeypatch):
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "2").mkdir()
    (tmp_path / "m" / "2" / "model.py").write_text("x = 1\n")
    (tmp_path / "notes").mkdir()
    scandir = os.scandir

    def refuse(path):       # as a folder without read permission answers (root reads every folder)
        if Path(path).name in ("1", "notes"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)
    monkeypatch.setattr(model_files.os, "scandir", refuse)
    tree = model_files.walk(tmp_path)
    assert tree.unreadable == ("m/1", "notes") and rel(tmp_path, tree.files) == ["m/2/model.py"]
    assert model_files.model_problems(tmp_path, "m", tree) == ["model 'm': m/1 cannot be read: the sync would leave "
                                                               "it out"]
    assert model_files.root_problems(tree, ["m"]) == ["notes cannot be read: the sync would leave it out"]


def test_a_config_linked_from_outside_is_refused_and_never_read(tmp_path):
    (tmp_path / "theirs.pbtxt").write_text('name: "other"\n')
    (tmp_path / "models" / "m" / "1").mkdir(parents=True)
    (tmp_path / "models" / "m" / "config.pbtxt").symlink_to(tmp_path / "theirs.pbtxt")
    root = tmp_path / "models"
    problems = model_files.model_problems(root, "m", model_files.walk(root))
    assert problems == [f"model 'm': m/config.pbtxt is a link to {shown(str(tmp_path / 'theirs.pbtxt'))}, outside the "
                        "model repository: the sync sends the hosts only files inside it (copy the file in, or link "
                        "to one inside)"]


@pytest.mark.parametrize("text, want", [
    ('name: "m"\nmax_batch_size: 8\n', 8),
    ('name: "m"\n', 0),                                                 # Triton's default: no batching
    ('max_batch_size : 16\ninput [\n  {\n    dims: [ 3 ]\n  }\n]\n', 16),
    ('optimization {\n  max_batch_size: 4\n}\n', 0),                    # nested: not the model's own
])
def test_a_config_s_own_max_batch_size_is_read(text, want):
    assert model_files.config_max_batch_size(text) == want


def test_the_max_batch_size_of_a_model_folder_and_of_one_without_a_config(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.pbtxt").write_text('name: "m"\nmax_batch_size: 32\n')
    (tmp_path / "bare").mkdir()
    assert model_files.read_max_batch_size(tmp_path, "m") == 32
    assert model_files.read_max_batch_size(tmp_path, "bare") == 0


@pytest.mark.parametrize("own, wanted, why", [
    (8, None, None), (8, 0, None), (0, 0, None), (8, 8, None), (8, 4, None),
    (8, 16, "16 is more than model 'm' takes: its config.pbtxt has max_batch_size 8"),
    (0, 4, "model 'm' does not batch (its config.pbtxt has max_batch_size 0): dynamic batching cannot be turned "
           "on for it; give max_batch_size 0 or leave it out"),
])
def test_whether_a_model_takes_a_batch_setting(own, wanted, why):
    assert model_files.setting_problems("m", own, wanted) == ([why] if why else [])
