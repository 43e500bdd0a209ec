"""`python -m sop_core`: the command line (see sop_core.cli.main)."""
from __future__ import annotations

import sys

from sop_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
