"""Private keys: read and parsed once, with messages that say how to fix them; a new
station key made (ed25519, with cryptography, on which paramiko rests) and its public
half as authorized_keys and RFC 4716 text."""

from __future__ import annotations

import io
import os
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ..errors import ConfigError

# A key as the layers above hold it: opaque, used through this module's functions.
Key = paramiko.PKey

KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)


def load_private_key(text: str, passphrase: str | None, origin: str) -> paramiko.PKey:
    """Given an OpenSSH/PEM private key's text, return the key (ed25519, ecdsa or rsa).

    ``origin`` says where the text came from, for the message. Raises ``ConfigError``.
    """
    last: Exception | None = None
    for key_class in KEY_CLASSES:
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException:
            raise ConfigError(
                f"the private key {origin} is encrypted: give its passphrase"
            ) from None
        except (paramiko.SSHException, ValueError) as error:
            last = error
    raise ConfigError(
        f"the private key {origin} could not be read as an ed25519, ecdsa or rsa key "
        f"({last}); give an OpenSSH private key such as one made by "
        "`ssh-keygen -t ed25519 -f station_key`"
    )


def read_private_key_file(path: Path, passphrase: str | None) -> paramiko.PKey:
    """Given a key file's path, return the key; raise ``ConfigError`` naming the problem."""
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"cannot read the private key file {str(path)!r} ({error.strerror}): "
            "check the path and that this user may read it"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"the private key file {str(path)!r} is not a text key file: give an OpenSSH "
            "private key such as one made by `ssh-keygen -t ed25519 -f station_key`"
        ) from None
    return load_private_key(text, passphrase, f"in {str(path)!r}")


def create_private_key(path: Path) -> paramiko.PKey:
    """Make a new ed25519 key at ``path`` (0600 in a folder made 0700 if missing) and
    return it. Never overwrites: a file already there raises ``ConfigError``."""
    text = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()
    )
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{str(path)!r} exists: it is never overwritten") from None
    except OSError as error:
        raise ConfigError(
            f"cannot make the station's key at {str(path)!r} ({error.strerror}): give a "
            "folder this user may write (the state volume, CSU_STATE_DIR)"
        ) from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(text)
    return load_private_key(text.decode(), None, f"made in {str(path)!r}")


def public_key_line(key: paramiko.PKey, comment: str) -> str:
    """Return the key's public half as an authorized_keys line: ``type base64 comment``."""
    return f"{key.get_name()} {key.get_base64()} {comment}".strip()


def rfc4716(key: paramiko.PKey, comment: str) -> str:
    """Return the key's public half in RFC 4716 form (ProFTPD's SFTPAuthorizedUserKeys)."""
    body = key.get_base64()
    lines = [body[start : start + 70] for start in range(0, len(body), 70)]
    quoted = comment.replace("\\", "\\\\").replace('"', '\\"')
    return "\n".join(
        [
            "---- BEGIN SSH2 PUBLIC KEY ----",
            f'Comment: "{quoted}"',
            *lines,
            "---- END SSH2 PUBLIC KEY ----",
        ]
    )
