"""Helpers for tests against the test bed's plain sshd: a resource for it, an engine with an
allocation on it, and a user who answers the engine's questions."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import asyncssh

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import BatchKind, Resource
from vc3tui.engine.questions import QuestionKind

from tests.testbed.sshd import PASSWORD, USER


def fingerprint(sshd) -> str:
    return asyncssh.read_public_key(sshd.root / "host_ed25519.pub").get_fingerprint("sha256")


def add_resource(engine: Engine, name: str, port: int, batch: BatchKind = BatchKind.FORK, scratch: str | None = None) -> None:
    engine.save_resource(
        Resource(name=name, login_hosts=["127.0.0.1"], port=port, batch=batch, scratch_dir=scratch),
    )


class Answers:
    """Answers the engine's questions as a user would, and counts what was asked."""

    def __init__(self, engine: Engine, replies: dict[QuestionKind, object]) -> None:
        self.asked: Counter[QuestionKind] = Counter()
        self.prompts: list[str] = []

        async def answer() -> None:
            async for question in engine.questions.questions():
                self.asked[question.kind] += 1
                self.prompts.append(question.prompt)
                reply = replies.get(question.kind)
                if reply is None:
                    engine.questions.cancel(question.id)
                else:
                    engine.questions.answer(question.id, reply() if callable(reply) else reply)

        self.task = asyncio.create_task(answer())


async def engine_with(new_engine: Callable[..., Engine], site, *, name: str = "lab1", port: int | None = None, batch: BatchKind = BatchKind.FORK, replies=None, scratch=None):
    engine = new_engine()
    add_resource(engine, "lab", port or site.port, batch, scratch)
    answers = Answers(engine, replies or {QuestionKind.HOST_KEY: "yes", QuestionKind.PASSWORD: PASSWORD, QuestionKind.OTP: site.totp})
    allocation, pair = await engine.access.create(name, "lab", USER)
    return engine, answers, allocation, pair
