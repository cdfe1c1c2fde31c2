"""Engine failures in the app, handled in one place. Screens call the engine in workers made with
`engine_work`; a VC3Error such a worker raises becomes an error notice on its screen (one per problem, for a file's) (the
engine's message says what to do), and anything else is a bug that stops the app with its
traceback, as Textual does by default."""

from __future__ import annotations

import functools

from textual import work
from textual.worker import Worker, WorkerState

from vc3tui.engine import VC3Error

engine_work = functools.partial(work, exit_on_error=False)
"""`@work`, except that a failure reaches `ShowsEngineErrors` instead of ending the app at once."""


class ShowsEngineErrors:
    """For screens (and the app) whose workers call the engine."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if not isinstance(error, VC3Error):
            raise error
        for line in error.problems or [str(error)]:
            self.notify(line, severity="error", markup=False, timeout=10)
