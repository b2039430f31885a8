"""Imported once by the local backend's fork server: what every worker needs.

Importing this module imports torch, the results store and every registered world and
policy, so that workers forked from the server start without importing anything.
"""

import torch  # noqa: F401

from sandbox.batch import tasks  # noqa: F401
from sandbox.core.registry import load_builtin

load_builtin()
