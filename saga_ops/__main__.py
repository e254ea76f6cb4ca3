"""`python -m saga_ops COMMAND`: the same as the installed `saga-ops COMMAND`."""

import sys

from saga_ops.cli import main

sys.exit(main())
