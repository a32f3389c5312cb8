# A syntax error.
# expect: tests/bad_inventories/code_syntax_error.py:5: SyntaxError: closing parenthesis ']' does not match opening parenthesis '(' on line 4
hosts = [
    ("gpu-01.invalid", {"mig_force": True}
]
