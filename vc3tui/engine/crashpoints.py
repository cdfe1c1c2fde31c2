"""Deterministic crash points for tests of crash safety (VC3TUI_CRASH_AT=NAME kills the engine there).

Named points: `after-intent` (intents committed, nothing submitted), `after-submit-before-reply`
(the batch system accepted the job; its reply is never read), `after-reply-before-commit` (job ids
known, not yet stored). Unset, it costs one dictionary lookup.
"""

from __future__ import annotations

import os

VARIABLE = "VC3TUI_CRASH_AT"
EXIT_STATUS = 86


def crash_point(name: str) -> None:
    if os.environ.get(VARIABLE) == name:
        os._exit(EXIT_STATUS)
