"""vc3tui's tests, in tiers: unit/ (no daemon, no terminal), sites/ (real sshd, SLURM, SGE,
HTCondor and middleware), app/ (the full-screen app driven as a person would, and snapshots)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
