"""pyinfra deploys, one per component; a deploy file composes them (see deploy.py)."""
