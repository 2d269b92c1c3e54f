"""``python -m astraguard_train.cli``: the same as the ``astraguard-train`` command."""

import sys

from . import main

sys.exit(main())
