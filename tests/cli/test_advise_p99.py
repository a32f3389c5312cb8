"""advise's --p99-ms MODEL=MS: a model's target over its table's, checked as a usage error."""
import pytest

from migfleet.cli import advise


def test_targets_are_read_per_model():
    args = advise._args(["inv.py", "--demand-file", "d.json", "--p99-ms", "a=20", "--p99-ms", "b=5.5"])
    assert dict(args.p99_ms) == {"a": 20.0, "b": 5.5}


@pytest.mark.parametrize("value", ["20", "a=0", "a=x", "=5", "a=1e9"])
def test_a_bad_target_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as e:
        advise._args(["inv.py", "--demand-file", "d.json", "--p99-ms", value])
    assert e.value.code == 2
    assert "argument --p99-ms: wants MODEL=MS, MS milliseconds above 0 and at most an hour" in capsys.readouterr().err
