"""`python -m genclient ...` runs the same command line as `genctl ...`."""

from genclient.cli import main

raise SystemExit(main())
