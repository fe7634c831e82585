"""Private keys: read and parsed once, with messages that say how to fix them."""

from __future__ import annotations

import io
from pathlib import Path

import paramiko

from ..errors import ConfigError

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
