"""`python -m saga_local COMMAND`: the same as the installed `saga-local COMMAND`."""

import sys

from saga_local.cli import main

sys.exit(main())
