# Group data that never returns is stopped, and named by file and line.
# expect: tests/bad_inventories/code_never_returns/group_data/slow.py:2: still running after 2 s: inventory and group data files must only define hosts and data (a loop that never ends? MIGFLEET_LOAD_TIMEOUT sets the limit)
slow = ["gpu-01.invalid"]
