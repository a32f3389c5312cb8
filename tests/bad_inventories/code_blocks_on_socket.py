# Inventory code that waits on a socket nothing writes to (an unanswered CMDB), past the limit.
# expect: tests/bad_inventories/code_blocks_on_socket.py:8: still running after 2 s: inventory and group data files must only define hosts and data (a loop that never ends? MIGFLEET_LOAD_TIMEOUT sets the limit)
import socket


def ask_cmdb():
    mine, theirs = socket.socketpair()
    return mine.recv(4096)


hosts = ["gpu-01.invalid"]
answer = ask_cmdb()
