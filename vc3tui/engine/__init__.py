"""The vc3tui engine: a plain asyncio library with no UI import, used by the TUI and the headless runner."""
