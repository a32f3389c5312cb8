"""deploy.py picks each serving task up through tasks.optional_task (exactly one @deploy each)."""
import pytest

from tasks import optional_task


@pytest.mark.parametrize("name, function", [("toolkit", "install_toolkit"), ("triton", "deploy_tritons"),
                                            ("envoy", "deploy_envoy")])
def test_each_serving_task_has_one_deploy(name, function):
    task = optional_task(name)
    assert task is not None and task.__name__ == function


def test_models_digest_follows_content_not_caches(tmp_path):
    from tasks.triton import models_digest
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "config.pbtxt").write_text('name: "m"')
    (tmp_path / "m" / "1" / "model.py").write_text("x = 1\n")
    first = models_digest(tmp_path)
    (tmp_path / "m" / "1" / "__pycache__").mkdir()
    (tmp_path / "m" / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0cache")
    assert models_digest(tmp_path) == first
    (tmp_path / "m" / "1" / "model.py").write_text("x = 2\n")
    assert models_digest(tmp_path) != first
