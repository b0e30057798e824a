"""API unit tests import the API's package, ``app``, from ``apps/api``.

The worker's package has the same name, which is why ``tests/worker`` runs in its own
pytest invocation.
"""

from __future__ import annotations

import sys

from harness import API_DIR

if str(API_DIR) not in sys.path:
    sys.path.insert(0, str(API_DIR))
