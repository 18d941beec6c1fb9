"""A file pyinfra executes (deploy.py) made known to `inspect` as a module's.

pyinfra orders operations by the call stack: for each operation it runs `inspect.stack()`
and `getframeinfo` on every frame, and each asks `inspect.getmodule` for the frame's module.
For a file that is no module's, as the ones pyinfra executes are, `getmodule` scans every
module in `sys.modules` on each lookup: on the lab, about 2 million `hasattr` calls and 2 s of
a 12 s deploy that changes nothing. A module standing for the file is found in inspect's
cache instead. It holds nothing and is never imported.
"""

from __future__ import annotations

import sys
import types


def known_to_inspect(path: str) -> None:
    """Register `path` (an executed file's `__file__`) as a module's file, once."""
    name = f"{__name__}:{path}"  # a key of sys.modules only: no import ever asks for it
    if name not in sys.modules:
        module = types.ModuleType(name, f"stands for {path} in inspect's file cache")
        module.__file__ = path
        sys.modules[name] = module
