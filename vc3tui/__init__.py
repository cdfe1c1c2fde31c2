"""vc3tui: virtual clusters built from the logins you already have, without a central server."""

__version__ = "0.1.0"
