"""`python -m smarter_admin`: the `smarter` CLI without its console script."""

import sys

from smarter_admin.cli import main

sys.exit(main())
