"""`python -m devhost`: run the function app the way the Functions host does (see docs/devhost.md)."""

import sys

from devhost.cli import main

sys.exit(main())
