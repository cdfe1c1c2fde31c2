"""A key pair per allocation, made here and kept here: the private key never leaves this machine.

Keys live in `DATA/keys/` (0700), private key 0600; the public key's comment names the allocation,
so a line in a site's authorized_keys says where it came from.
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from vc3tui.engine.errors import VC3Error
from vc3tui.engine.paths import create_new, write_whole
from vc3tui.engine.sshlib import asyncssh


class KeyFileError(VC3Error):
    """A key file that cannot be used as it is; the message says how to fix it."""


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public_line: str
    fingerprint: str

    @property
    def paste_line(self) -> str:
        """The one line a user pastes into a shell on the site to install the key."""
        return authorized_keys_script(self.public_line)


def key_dir(data_dir: Path) -> Path:
    path = data_dir / "keys"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def key_file(data_dir: Path, allocation: str) -> Path:
    """Where the key pair vc3tui makes for `allocation` lives."""
    return key_dir(data_dir) / f"{allocation}_ed25519"


def create_key(data_dir: Path, allocation: str, host: str, passphrase: str | None = None) -> KeyPair:
    """Make an ed25519 pair for `allocation`; an existing pair is kept, never overwritten."""
    private = key_file(data_dir, allocation)
    if private.exists():
        return load_public(private, passphrase)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"vc3tui allocation {allocation} for {host}")
    create_new(private, key.export_private_key("openssh", passphrase=passphrase))
    public_line = key.export_public_key("openssh").decode().strip()
    write_whole(Path(f"{private}.pub"), (public_line + "\n").encode())
    return KeyPair(private, public_line, key.get_fingerprint("sha256"))


def load_public(private: Path, passphrase: str | None = None) -> KeyPair:
    check_private_key_file(private)
    public = Path(f"{private}.pub")
    if public.exists():
        line = public.read_text().strip()
        key = asyncssh.import_public_key(line)
    else:
        try:
            key = asyncssh.read_private_key(private, passphrase)
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise KeyFileError(f"{private}: cannot read the key ({exc}); check the passphrase") from None
        line = key.export_public_key("openssh").decode().strip()
    return KeyPair(private, line, key.get_fingerprint("sha256"))


def check_private_key_file(private: Path) -> None:
    """Refuse what OpenSSH refuses: a private key others can read or write."""
    try:
        mode = private.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"{private}: no such key file; create the allocation again or give an existing key") from None
    if not stat.S_ISREG(mode):
        raise KeyFileError(f"{private}: is not a file; give the private key's file, e.g. ~/.ssh/id_ed25519")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{private}: permissions {oct(mode & 0o777)} are too open; run: chmod 600 {shlex.quote(str(private))}")


def authorized_keys_script(public_line: str) -> str:
    """Append the key to ~/.ssh/authorized_keys once: idempotent, permissions fixed, other lines kept."""
    line = shlex.quote(public_line)
    return (
        "umask 077; mkdir -p ~/.ssh && chmod 700 ~/.ssh && touch ~/.ssh/authorized_keys && "
        f"chmod 600 ~/.ssh/authorized_keys && (grep -qxF {line} ~/.ssh/authorized_keys || "
        f"echo {line} >> ~/.ssh/authorized_keys)"
    )


def certificate_expiry(private: Path) -> float | None:
    """When the OpenSSH user certificate beside a key (`KEY-cert.pub`) stops being valid, if any."""
    cert_path = Path(f"{private}-cert.pub")
    if not cert_path.exists():
        return None
    cert = asyncssh.read_certificate(cert_path)
    # asyncssh keeps the validity window only as a private field; it checks it itself on use
    return float(getattr(cert, "_valid_before"))
