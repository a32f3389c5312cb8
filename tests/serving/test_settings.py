import jsonschema
import pytest

from migfleet import schema_defaults
from migfleet.serving import settings as serving_settings


def test_schema_is_valid_and_defaults_satisfy_it():
    schema = schema_defaults.schema("serving")
    jsonschema.Draft202012Validator.check_schema(schema)
    defaults = serving_settings.defaults()
    jsonschema.validate(defaults, schema)
    assert all(key.startswith(serving_settings.PREFIXES) for key in defaults)
    assert defaults["triton_image"] == "nvcr.io/nvidia/tritonserver:25.10-py3"
    assert defaults["envoy_image"] == "envoyproxy/envoy:v1.40-latest"
    assert defaults["toolkit_key_url"] == "https://nvidia.github.io/libnvidia-container/gpgkey"


def test_lab_overrides_validate_and_resolve():
    lab = {"toolkit_repo_url": "http://10.250.0.1:8081/", "toolkit_key_url": "http://10.250.0.1:8081/gpgkey",
           "triton_image": "10.250.0.1:5000/migfleet-lab/tritonserver:lab",
           "envoy_image": "10.250.0.1:5000/migfleet-lab/envoy:lab", "mig_layout": []}
    jsonschema.validate(lab, schema_defaults.schema("serving"))
    resolved = serving_settings.resolve(lab)
    assert resolved["toolkit_repo_url"] == "http://10.250.0.1:8081/"
    assert resolved["envoy_http_port"] == 8000
    assert "mig_layout" not in resolved


@pytest.mark.parametrize("bad", [{"envoy_lb_policy": "RANDOM"}, {"triton_port_base": 80},
                                 {"toolkit_version": "1.17 ; rm -rf /"}, {"triton_ngc_key_env": "1BAD"}])
def test_schema_rejects(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema_defaults.schema("serving"))


def test_unknown_serving_key_is_refused():
    with pytest.raises(KeyError, match="envoy_http_prot"):
        serving_settings.resolve({"envoy_http_prot": 8080})
