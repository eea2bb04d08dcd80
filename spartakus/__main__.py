"""``python -m spartakus``."""

import sys

from spartakus.cli import main

sys.exit(main())
