"""One pyinfra @deploy per component; deploy.py composes them in order."""
