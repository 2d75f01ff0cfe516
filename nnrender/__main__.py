"""``python -m nnrender`` is the ``nnrender`` command."""

import sys

from nnrender.cli import main

sys.exit(main())
