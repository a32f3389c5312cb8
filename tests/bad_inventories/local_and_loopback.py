# @local is the machine migfleet runs on; a host beside it at a loopback address (or a loopback
# name) is that machine again. A loopback address on another SSH port (a forwarded port into a
# VM) is another machine.
# expect: gpu-01.invalid: $.ssh_hostname: reaches 127.0.0.1, this machine, which the inventory also lists as @local: one machine under two names
# expect: gpu-02.invalid: $.ssh_hostname: reaches ::1, this machine, which the inventory also lists as @local: one machine under two names
# expect: localhost: $: reaches localhost, this machine, which the inventory also lists as @local: one machine under two names
hosts = [
    "@local",
    ("gpu-01.invalid", {"ssh_hostname": "127.0.0.1"}),
    ("gpu-02.invalid", {"ssh_hostname": "::1"}),
    "localhost",
    ("gpu-03.invalid", {"ssh_hostname": "127.0.0.1", "ssh_port": 2222}),
]
