# pyinfra ignores a group with a non-host item (a warning only): its hosts would silently be left out.
# expect: tests/bad_inventories/group_not_hosts.py: Ignoring host group "hosts". Host groups may only contain strings (host) or tuples (host, data).
hosts = ["gpu-01.invalid", 2]
more = ["gpu-02.invalid"]
