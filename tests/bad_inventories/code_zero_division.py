# A runtime error in inventory code: the real error, with file and line.
# expect: tests/bad_inventories/code_zero_division.py:4: ZeroDivisionError: integer division or modulo by zero
hosts = ["gpu-01.invalid"]
_per_host = 8 // 0
