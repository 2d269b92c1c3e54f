"""``python -m astraguard_train``: the same as the ``astraguard-train`` command."""

import sys

from .cli import main

sys.exit(main())
