# Inventory code that waits on an event nothing will set: gevent sees at once that it never can.
# expect: tests/bad_inventories/code_waits_forever.py:5: waits for a lock, event or queue that nothing will ever release: inventory and group data files must only define hosts and data
import threading
hosts = ["gpu-01.invalid"]
threading.Event().wait()
