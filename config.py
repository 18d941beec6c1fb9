"""pyinfra reads this file before it loads the inventory and connects (`pyinfra INVENTORY
deploy.py` from this directory)."""

from roles.refusal import quiet_pyinfra_errors_in_greenlets

# A missing SSH key file, or a refusal while executing, is one line without a traceback.
quiet_pyinfra_errors_in_greenlets()
