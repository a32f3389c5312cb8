# A name that does not exist.
# expect: tests/bad_inventories/code_name_error.py:3: NameError: name 'LAYOUT' is not defined
hosts = [("gpu-01.invalid", {"mig_layout": LAYOUT})]
