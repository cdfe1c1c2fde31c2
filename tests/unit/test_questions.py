"""The question channel: the engine asks, one answerer replies, nothing reads a terminal."""

from __future__ import annotations

import asyncio
import ast

import pytest

from vc3tui.engine.questions import NoAnswer, QuestionChannel, QuestionKind

from tests import ROOT


async def test_questions_go_out_with_ids_and_answers_come_back() -> None:
    channel = QuestionChannel()

    async def answerer() -> None:
        async for question in channel.questions():
            if question.kind is QuestionKind.OTP:
                assert question.secret
                channel.answer(question.id, "123456")
            else:
                channel.answer(question.id, f"answer {question.id}")

    task = asyncio.create_task(answerer())
    first, second = await asyncio.gather(
        channel.ask(QuestionKind.TEXT, "Name?"), channel.ask(QuestionKind.OTP, "One-time password:", about="midway")
    )
    task.cancel()
    assert (first, second) == ("answer 1", "123456")
    assert channel.pending() == []


async def test_cancelled_question_raises_no_answer() -> None:
    channel = QuestionChannel()
    asking = asyncio.create_task(channel.ask(QuestionKind.PASSWORD, "Password:", about="midway"))
    await asyncio.sleep(0)
    (question,) = channel.pending()
    channel.cancel(question.id)
    with pytest.raises(NoAnswer, match="midway: cancelled by the user"):
        await asking


async def test_no_input_fails_at_once_with_the_fix() -> None:
    channel = QuestionChannel(interactive=False)
    with pytest.raises(NoAnswer, match="midway: Accept host key.*input is off; pass --accept-host-key"):
        await channel.ask(
            QuestionKind.HOST_KEY, "Accept host key?", about="midway", hint_when_unanswered="pass --accept-host-key SHA256:..."
        )


def test_engine_never_reads_the_terminal() -> None:
    engine_dir = ROOT / "vc3tui" / "engine"
    for path in engine_dir.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        imports = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "input" not in names, path
        assert "getpass" not in imports | modules, path
        assert not any(m and m.startswith("textual") for m in modules | imports), path
