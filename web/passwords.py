"""Passwords: Argon2id through pwdlib (a maintained wrapper of argon2-cffi that also
upgrades a hash made with older parameters the next time its password is checked)."""

from __future__ import annotations

import secrets

from pwdlib import PasswordHash

HASHER = PasswordHash.recommended()
MIN_LENGTH = 12
MAX_LENGTH = 200
# Checked against when the user does not exist or has no password, so that a guess at an
# unknown name costs as long as one at a known name.
_DUMMY = HASHER.hash(secrets.token_urlsafe(16))


def problem(password: str) -> str | None:
    """What is wrong with a new password, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if password.strip() != password:
        return "must not start or end with a space"
    return None


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Whether `password` matches the stored hash, and a new hash to store when the old
    one's parameters are outdated (None otherwise)."""
    if stored is None:
        HASHER.verify(password, _DUMMY)
        return False, None
    return HASHER.verify_and_update(password, stored)


def new_password() -> str:
    """A random first-login password: 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)
