"""Password hashing with Argon2id."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError


def _dummy_for(hasher: PasswordHasher) -> str:
    """A hash of a random password with ``hasher``'s parameters: what a login name nobody has is checked
    against, so that it costs the same Argon2 work (and time) as a wrong password of a real account."""
    return hasher.hash(secrets.token_urlsafe(16))


_hasher = PasswordHasher()
_dummy_hash = _dummy_for(_hasher)


def use_cheap_hashing() -> None:
    """For the test suite only: hash with Argon2's cheapest parameters so fixtures stay fast."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    _dummy_hash = _dummy_for(_hasher)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Is ``password`` the one of ``password_hash``? Without a hash (no such account) the answer is no, after the
    same Argon2 verification, so the time taken does not tell whether the account exists."""
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
