"""The lab model's arithmetic (files/models/lab_classifier/1/classifier.py) and its documentation."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

MODELS = Path(__file__).resolve().parents[2] / "files" / "models"


def _classifier():
    spec = importlib.util.spec_from_file_location("lab_classifier_arith",
                                                  MODELS / "lab_classifier" / "1" / "classifier.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented_pairs():
    text = (MODELS / "README.md").read_text()
    block = re.search(r"```known-pairs\n(.*?)```", text, re.S).group(1)
    pairs = []
    for line in block.strip().splitlines():
        left, right = line.split("->")
        pairs.append(([float(v) for v in left.split()], [float(v) for v in right.split()]))
    return pairs


def test_documented_pairs_match_the_code():
    classify = _classifier().classify
    pairs = documented_pairs()
    assert len(pairs) >= 3
    for features, expected in pairs:
        got = classify(features)
        assert got.dtype == np.float32 and got.shape == (3,)
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_probabilities_are_a_softmax_of_the_fixed_linear_map():
    c = _classifier()
    rng = np.random.default_rng(7)
    for x in rng.normal(3.0, 2.0, size=(50, 4)).astype(np.float32):
        p = c.classify(x)
        assert abs(float(p.sum()) - 1.0) < 1e-5 and (p > 0).all()
        logits = c.WEIGHTS.astype(np.float64) @ x + c.BIAS
        assert int(p.argmax()) == int(logits.argmax())
        # log-ratios of a softmax are the logit differences
        np.testing.assert_allclose(np.log(p[1] / p[0]), logits[1] - logits[0], rtol=1e-3, atol=1e-3)
    # large inputs do not overflow
    assert np.isfinite(c.classify([1e4, -1e4, 1e4, 1e4])).all()


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="4 features"):
        _classifier().classify([1.0, 2.0, 3.0])


def test_config_matches_the_model():
    config = (MODELS / "lab_classifier" / "config.pbtxt").read_text()
    assert 'backend: "python"' in config and "max_batch_size: 0" in config
    assert re.search(r'name: "INPUT"\s+data_type: TYPE_FP32\s+dims: \[ 4 \]', config)
    assert re.search(r'name: "PROBABILITIES"\s+data_type: TYPE_FP32\s+dims: \[ 3 \]', config)
    model = (MODELS / "lab_classifier" / "1" / "model.py").read_text()
    assert '"INPUT"' in model and '"PROBABILITIES"' in model


def test_flowers_example_config():
    config = (MODELS.parent / "models-examples" / "flowers" / "flowers_resnet50" / "config.pbtxt").read_text()
    assert "max_batch_size: 1" in config
    assert re.search(r"dims: \[ 3, 224, 224 \]", config) and re.search(r"dims: \[ 102 \]", config)
