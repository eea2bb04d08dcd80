"""``python -m volunteer``."""

import sys

from volunteer.cli import main

sys.exit(main())
