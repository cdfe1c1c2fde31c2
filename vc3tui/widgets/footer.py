"""The key bar at the bottom of every view: the screen's keys as one line of text.

Textual's Footer makes a widget per key and rebuilds them all whenever the screen's bindings are
refreshed, several times as a view starts: a sixth of the app's cold start went to styling,
arranging and painting those widgets. This bar renders the same keys in the same styles as one
line, redrawn only when what it shows changes; keys that do not fit are left out whole, and a
click on a key presses it, as in Textual's.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget


class Key(NamedTuple):
    key: str
    display: str
    description: str
    enabled: bool


class KeyFooter(Widget):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer-key--key", "footer-key--description", "footer-key--hover", "footer-key--separator"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .footer-key--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer-key--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .footer-key--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        .footer-key--separator {
            color: $foreground 20%;
        }
    }
    """

    keys: reactive[tuple[Key, ...]] = reactive((), layout=False)
    palette: reactive[Key | None] = reactive(None, layout=False)
    hovered: reactive[int | None] = reactive(None)
    _spans: list[tuple[int, int, Key]]

    def on_mount(self) -> None:
        self._spans = []
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    def bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        app, shown, seen = self.app, [], set()
        bindings = screen.active_bindings
        for _, binding, enabled, _ in bindings.values():
            if binding.show and binding.action not in seen:  # one key per action, as Textual's Footer
                seen.add(binding.action)
                shown.append(Key(binding.key, app.get_key_display(binding), binding.description, enabled))
        self.keys = tuple(shown)
        palette = bindings.get(app.COMMAND_PALETTE_BINDING) if app.ENABLE_COMMAND_PALETTE else None
        self.palette = palette and Key(palette[1].key, app.get_key_display(palette[1]), palette[1].description, palette[2])

    def render(self) -> Text:
        width = self.size.width
        right = Text()
        if self.palette:
            right.append("▏", self.get_component_rich_style("footer-key--separator"))
            right.append_text(self._label(self.palette, -1, padded=False))
            right.append(" ")
        line, self._spans = Text(no_wrap=True, overflow="crop"), []
        for index, key in enumerate(self.keys):
            label = self._label(key, index, padded=True)
            if line.cell_len + label.cell_len > width - right.cell_len:
                break
            self._spans.append((line.cell_len, line.cell_len + label.cell_len, key))
            line.append_text(label)
        if self.palette:
            self._spans.append((width - right.cell_len, width, self.palette))
            line.append(" " * max(0, width - right.cell_len - line.cell_len))
            line.append_text(right)
        return line

    def _label(self, key: Key, index: int, *, padded: bool) -> Text:
        """` k ` `Description ` as a FooterKey draws it (`k Description` for the palette's key)."""
        key_style = self.get_component_rich_style("footer-key--key")
        description_style = self.get_component_rich_style("footer-key--description")
        if index == self.hovered:
            hover = self.get_component_rich_style("footer-key--hover")
            key_style, description_style = key_style + hover, description_style + hover
        if not key.description:
            label = Text(key.display, key_style)
        elif padded:
            label = Text.assemble((f" {key.display} ", key_style), (f"{key.description} ", description_style))
        else:
            label = Text.assemble((key.display, key_style), (f" {key.description}", description_style))
        if not key.enabled:
            label.stylize("dim")
        return label

    def _key_at(self, x: int) -> tuple[int, Key] | None:
        for index, (start, end, key) in enumerate(self._spans):
            if start <= x < end:
                return (-1 if key is self.palette else index), key
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        found = self._key_at(event.x)
        self.hovered = found[0] if found else None

    def on_leave(self) -> None:
        self.hovered = None

    def on_click(self, event: events.Click) -> None:
        found = self._key_at(event.x)
        if found is None:
            return
        if found[1].enabled:
            self.app.simulate_key(found[1].key)
        else:
            self.app.bell()
