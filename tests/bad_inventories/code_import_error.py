# An import that fails.
# expect: tests/bad_inventories/code_import_error.py:3: ModuleNotFoundError: No module named 'migfleet_site_settings'
from migfleet_site_settings import LAYOUT
hosts = ["gpu-01.invalid"]
