"""``python -m cli``: the same as the ``wooforce`` command."""
import sys

from cli.main import main

sys.exit(main())
