"""pyinfra reads this file before it loads the inventory and connects (`pyinfra INVENTORY
deploy.py` from this directory)."""

from roles import preflight

# A missing SSH key file is reported in one line, without a greenlet's traceback.
preflight.quiet_greenlet_errors()
