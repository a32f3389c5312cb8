"""The registry login: the key goes to `docker login` on stdin only, never into a command line."""
from pyinfra.api import FunctionCommand

from migfleet.operations import serving

from .conftest import commands_of


class _LoginHost:
    print_prefix = "[login] "

    def __init__(self):
        self.calls = []

    def run_shell_command(self, command, **kwargs):
        self.calls.append((str(command), kwargs))
        return True, None


def test_image_present_logs_in_with_key_on_stdin_only(settings, monkeypatch):
    image = settings["triton_image"]
    secret = "nvapi-test-secret-0123456789"
    monkeypatch.setenv("NGC_API_KEY", secret)
    commands, _ = commands_of(serving.image_present, image, False, "$oauthtoken", "NGC_API_KEY", facts={})
    login, pull = commands
    assert isinstance(login, FunctionCommand) and pull == f"docker pull {image}"
    assert secret not in repr(login)
    host = _LoginHost()
    assert login.function(None, host, *login.args, **login.kwargs) is True
    [(command, kwargs)] = host.calls
    assert command == "docker login nvcr.io -u '$oauthtoken' --password-stdin"
    assert kwargs["_stdin"] == secret and secret not in command
