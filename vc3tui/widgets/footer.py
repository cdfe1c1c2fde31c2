"""The key bar at the bottom of every view: Textual's Footer, rebuilt only when the keys it shows
change.

As a view starts, its bindings are refreshed several times in a row (the screen resuming, focus
settling on the table), and Textual's Footer rebuilds and restyles every key each time: five
rebuilds of the same keys before the first frame, a tenth of a second of a cold start.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    _rebuild_pending = False
    _shown: tuple = ()

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen or self._rebuild_pending:
            return
        self._rebuild_pending = True
        self.call_after_refresh(self._rebuild)

    def compose(self):
        if self._bindings_ready:  # Footer shows no key before; what it shows now needs no rebuild
            self._shown = self._keys()
        yield from super().compose()

    def _keys(self) -> tuple:
        return tuple(
            (binding.key, binding.action, binding.description, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        )

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        shown = self._keys()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()
