"""`python -m pgha`: the `pgha` command (pgha.cli)."""

import sys

from pgha.cli import main

sys.exit(main())
