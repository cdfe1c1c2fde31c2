"""Answering the engine's questions on a terminal (headless mode and the scripting commands)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
import termios
import tty
from collections.abc import Iterator

from vc3tui.engine import QuestionChannel


async def answer_on_terminal(channel: QuestionChannel) -> None:
    """Prompt for each question as it comes; secrets are read without echo. Runs until cancelled."""
    async for question in channel.questions():
        if not sys.stdin.isatty():
            channel.cancel(question.id, f"{question.prompt.strip()} needs an answer and there is no terminal; {question.hint_when_unanswered or 'run it from a terminal'}")
            continue
        heading = f"[{question.about}] " if question.about else ""
        if question.detail:
            print(f"{heading}{question.detail}", file=sys.stderr)
        prompt = f"{heading}{question.prompt.rstrip()} "
        if question.kind == "host_key" and "(yes/no)" not in prompt:
            prompt += "(yes/no) "
        reader = getpass.getpass if question.secret else input
        try:
            answer = await asyncio.to_thread(reader, prompt)
        except (EOFError, KeyboardInterrupt):
            channel.cancel(question.id)
            continue
        channel.answer(question.id, answer)


class LocalTerminal:
    """This process's own terminal, lent to a shell on a site (the Terminal the engine asks for):
    raw while the shell has it, as it was afterwards, whatever happens."""

    def __init__(self) -> None:
        self.keyboard = sys.stdin.fileno()
        self.screen = sys.stdout.fileno()
        self.term_type = os.environ.get("TERM", "xterm-256color")

    def size(self) -> tuple[int, int]:
        size = os.get_terminal_size(self.screen)
        return size.columns, size.lines

    @contextlib.contextmanager
    def raw(self) -> Iterator[None]:
        saved = termios.tcgetattr(self.keyboard)
        tty.setraw(self.keyboard)
        try:
            yield
        finally:
            termios.tcsetattr(self.keyboard, termios.TCSADRAIN, saved)
