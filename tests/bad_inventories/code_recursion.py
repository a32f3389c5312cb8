# Unbounded recursion in inventory code.
# expect: tests/bad_inventories/code_recursion.py:4: RecursionError: maximum recursion depth exceeded
def _hosts(n):
    return _hosts(n + 1)


hosts = _hosts(0)
