# Inventory code that waits in a system call (pyinfra's gevent turns the sleep into a wait in its
# hub) past the load time limit: named by the user's file and line, not gevent's.
# expect: tests/bad_inventories/code_blocks_sleeping.py:6: still running after 2 s: inventory and group data files must only define hosts and data (a loop that never ends? MIGFLEET_LOAD_TIMEOUT sets the limit)
import time
hosts = ["gpu-01.invalid"]
time.sleep(100)
