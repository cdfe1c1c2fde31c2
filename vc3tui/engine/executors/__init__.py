"""Executors run commands where an allocation lives: `local` (this machine) or `ssh` (a login node)."""
