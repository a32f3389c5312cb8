# Group data saved in Latin-1: named by its own file and line, not the inventory's.
# expect: tests/bad_inventories/group_data_not_utf8/group_data/all.py:3: not UTF-8 (byte 0xe9 at column 19): pyinfra reads inventory and group data files as UTF-8, whatever a coding line says; save the file as UTF-8
hosts = ["gpu-01.invalid"]
