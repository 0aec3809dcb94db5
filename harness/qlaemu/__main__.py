"""``python3 -m qlaemu``: see :mod:`qlaemu.cli`."""
import sys

from .cli import main

sys.exit(main())
