# An inventory saved in Latin-1 (a coding line does not change how pyinfra reads it).
# expect: tests/bad_inventories/encoding_latin1.py:5: not UTF-8 (byte 0xe9 at column 14): pyinfra reads inventory and group data files as UTF-8, whatever a coding line says; save the file as UTF-8
# -*- coding: latin-1 -*-
hosts = ["gpu-01.invalid"]
site = "Montréal"  # the city, written café-style
