"""``python -m snnlab``: the same program as the ``snnlab`` console script."""

import sys

from snnlab.cli import main

sys.exit(main())
