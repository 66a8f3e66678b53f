"""``python -m algotrading`` runs the command line."""

import sys

from algotrading.cli import main

sys.exit(main())
