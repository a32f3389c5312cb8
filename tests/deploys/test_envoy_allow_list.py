"""Who may scrape a host's metrics endpoint when the inventory does not say."""
import pytest

from migfleet.deploys import envoy
from migfleet.serving import metrics


def test_the_setting_wins():
    assert envoy.allow_networks({"metrics_allow_networks": ["10.9.0.0/16"]}, "gpu1") == ["10.9.0.0/16"]
    assert envoy.allow_networks({"metrics_allow_networks": []}, "gpu1", on_host=True) == []


def test_on_the_host_itself_loopback_and_its_own_networks():
    """`pyinfra @local`: the address is "@local", which is no name to resolve; this machine's
    own interfaces are the host's."""
    assert envoy.allow_networks({"metrics_allow_networks": None}, "@local", on_host=True) == metrics.local_networks()


def test_from_elsewhere_the_network_the_deploy_reaches_the_host_from():
    assert envoy.allow_networks({"metrics_allow_networks": None}, "127.0.0.2") == ["127.0.0.0/8"]


def test_an_address_that_does_not_resolve_names_the_field_to_set():
    with pytest.raises(envoy.AllowListError) as err:
        envoy.allow_networks({"metrics_allow_networks": None}, "gpu1.invalid")
    assert str(err.value).startswith("metrics_allow_networks: no default: 'gpu1.invalid' does not resolve")
    assert "set metrics_allow_networks" in str(err.value) and "\n" not in str(err.value)
