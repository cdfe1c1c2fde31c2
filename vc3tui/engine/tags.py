"""Names for pilots and their batch jobs: a tag unique to this installation, cluster and pilot
(what lets a restart adopt its own jobs and never another installation's), and a short job name
that fits every batch system."""

from __future__ import annotations


def pilot_tag(installation_id: str, cluster_id: str, index: int) -> str:
    """Unique per installation, cluster and pilot, so no two installations touch each other's jobs."""
    return f"vc3-{installation_id}-{cluster_id}-{index}"


def job_name(tag: str) -> str:
    """A batch job name within Torque's 15 characters; the full tag travels in the job's comment."""
    _, installation, _, index = tag.split("-")
    return f"vc3{installation[:6]}{_base36(int(index))}"[:15]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out
