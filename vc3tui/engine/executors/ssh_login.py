"""Logging in to a site as its user would: password and keyboard-interactive prompts (password,
one-time code, Duo) and key passphrases asked through the question channel, never read here.

Three rounds at most per connection, so a mistyped answer is asked again but a wrong stored
answer cannot lock the account by exhausting the site's attempts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vc3tui.engine.errors import VC3Error
from vc3tui.engine.questions import NoAnswer, QuestionChannel, QuestionKind
from vc3tui.engine.sshlib import asyncssh

MAX_AUTH_ROUNDS = 3
CODE_WORDS = ("one-time", "otp", "code", "token", "passcode")


class Login:
    """What one connection's authentication asked and how it went."""

    def __init__(self, questions: QuestionChannel, who: str, about: str) -> None:
        self.questions = questions
        self.who = who
        self.about = about
        self.rounds = 0
        self.interactive = False
        """A person answered a prompt: the next login after a drop asks them again."""
        self.used_code = False
        """A one-time code was asked: a key alone does not get in."""
        self.refusal = ""

    def another_round(self) -> bool:
        self.rounds += 1
        self.interactive = True
        if self.rounds > MAX_AUTH_ROUNDS:
            self.refusal = "the password or code was refused"
            return False
        return True


class LoginClient(asyncssh.SSHClient):
    """asyncssh's client hooks, answered by asking the user."""

    def __init__(self, login: Login) -> None:
        self.login = login

    async def password_auth_requested(self) -> str | None:
        login = self.login
        if not login.another_round():
            return None
        try:
            return await login.questions.ask(QuestionKind.PASSWORD, f"Password for {login.who}:", about=login.about)
        except NoAnswer as exc:
            login.refusal = str(exc)
            return None

    def kbdint_auth_requested(self) -> str:
        return ""

    async def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str] | None:
        login = self.login
        if prompts and not login.another_round():
            return None
        answers = []
        for prompt, echo in prompts:
            kind = QuestionKind.OTP if any(word in prompt.lower() for word in CODE_WORDS) else QuestionKind.PASSWORD
            if echo:
                kind = QuestionKind.TEXT
            login.used_code |= kind is QuestionKind.OTP
            try:
                answers.append(await login.questions.ask(kind, prompt, detail=instructions, about=login.about, secret=not echo))
            except NoAnswer as exc:
                login.refusal = str(exc)
                return None
        return answers


async def unlock_key(path: Path, passphrase: str | None, questions: QuestionChannel, about: str) -> tuple[asyncssh.SSHKeyPair, str | None]:
    """The allocation's key (with its certificate, `KEY-cert.pub`, when one sits beside it) and
    the passphrase that opened it: the given one, else one asked of the user."""
    try:
        return load_keypair(path, passphrase), passphrase
    except asyncssh.KeyEncryptionError:
        if passphrase is not None:
            raise VC3Error(f"{path}: wrong passphrase") from None
    except asyncssh.KeyImportError as exc:
        if "assphrase" not in str(exc):
            raise VC3Error(f"{path}: cannot use the key ({exc})") from None
    asked = await questions.ask(
        QuestionKind.PASSWORD, f"Passphrase for {path.name}:", about=about, hint_when_unanswered="use an ssh-agent with the key loaded"
    )
    try:
        return load_keypair(path, asked), asked
    except asyncssh.KeyEncryptionError:
        raise VC3Error(f"{path}: wrong passphrase") from None


def load_keypair(path: Path, passphrase: str | None) -> asyncssh.SSHKeyPair:
    cert = Path(f"{path}-cert.pub")
    return asyncssh.load_keypairs([(str(path), str(cert)) if cert.exists() else str(path)], passphrase)[0]
