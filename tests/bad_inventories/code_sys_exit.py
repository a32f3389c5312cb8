# sys.exit() in an inventory used to end validate silently, with exit code 0.
# expect: tests/bad_inventories/code_sys_exit.py:6: the inventory code called sys.exit(0); inventory files must only define hosts and data
import sys
hosts = ["gpu-01.invalid"]
if len(hosts) < 2:
    sys.exit(0)
