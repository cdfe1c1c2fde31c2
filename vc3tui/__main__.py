"""Allow `python -m vc3tui`."""

from vc3tui.cli import main

raise SystemExit(main())
