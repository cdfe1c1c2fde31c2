"""Answering the engine's questions on a terminal (headless mode and the scripting commands)."""

from __future__ import annotations

import asyncio
import getpass
import sys

from vc3tui.engine.questions import QuestionChannel


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

