"""``python -m sklearn_ltuning``: the command line."""

import sys

from .cli import main

sys.exit(main())
