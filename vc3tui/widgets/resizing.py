"""The keys that change a cluster, shared by the clusters view (on the selected row) and the cluster
view: `+`/`-` by one, `=` to type a count, `p` peaceful on or off, ctrl+d terminate. They write
the store through the engine, so they work whichever process runs the cluster's factory."""

from __future__ import annotations

from textual.binding import Binding

from vc3tui.engine import Cluster, VC3Error
from vc3tui.screens.confirm import ConfirmScreen
from vc3tui.screens.count import CountScreen
from vc3tui.widgets.errors import engine_work

RESIZE_BINDINGS = [
    Binding("plus", "resize(1)", "+1 worker", key_display="+"),
    Binding("minus", "resize(-1)", "-1 worker", key_display="-"),
    Binding("equals_sign", "set_count", "Set count", key_display="="),
    Binding("p", "toggle_peaceful", "Peaceful on/off"),
    Binding("ctrl+d", "terminate", "Terminate"),
]


class ResizeKeys:
    """For screens with a `selected_cluster()`; each action says what it did in a notification."""

    def selected_cluster(self) -> Cluster | None:
        raise NotImplementedError

    def _live(self) -> Cluster | None:
        cluster = self.selected_cluster()
        if cluster is None or not cluster.state.live or cluster.terminate_requested:
            self.notify("no live cluster selected", severity="warning")
            return None
        return cluster

    async def action_resize(self, step: int) -> None:
        cluster = self._live()
        if cluster is not None:
            await self._request(cluster, cluster.requested + step, cluster.peaceful)

    @engine_work
    async def action_set_count(self) -> None:
        cluster = self._live()
        if cluster is None:
            return
        count = await self.app.push_screen_wait(CountScreen(cluster.name, cluster.requested))
        if count is not None:
            await self._request(cluster, count, cluster.peaceful)

    async def action_toggle_peaceful(self) -> None:
        cluster = self._live()
        if cluster is not None:
            await self._request(cluster, cluster.requested, not cluster.peaceful)

    @engine_work
    async def action_terminate(self) -> None:
        cluster = self._live()
        if cluster is None:
            return
        how = "draining workers first" if cluster.peaceful else "cancelling every pilot at once"
        if await self.app.push_screen_wait(ConfirmScreen(f"Terminate {cluster.name}, {how}?", "Terminate")):
            await self.app.engine.terminate(cluster.id, peaceful=cluster.peaceful)
            self.notify(f"{cluster.name}: terminating", markup=False)
            self.post_message_changed()

    async def _request(self, cluster: Cluster, count: int, peaceful: bool) -> None:
        """Key actions run in turn, not as workers, so `+ + +` counts three; the engine says what
        a count may be (so `-` at 0 tells why it did nothing)."""
        try:
            count = await self.app.engine.resize(cluster.id, count, peaceful=peaceful)
        except VC3Error as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        cluster.requested, cluster.peaceful = count, peaceful
        self.notify(f"{cluster.name}: {count} workers ({'peaceful' if peaceful else 'at once'})", markup=False)
        self.post_message_changed()

    def post_message_changed(self) -> None:
        """Refresh at once: the change is in the store before the factory acts on it."""
        raise NotImplementedError
