"""Salted hashing of user ids at ingestion. The salt is read from an env var or a file and is
never written to any output (dataset.json records only that ids were hashed and how)."""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pandas as pd

from recsys_tf.errors import InputError

SALT_ENV = "RECSYS_TF_USER_ID_SALT"
HASH_SCHEME = "hmac-sha256-hex16"


def load_salt(salt_file: str | None = None) -> bytes:
    if salt_file:
        salt = Path(salt_file).read_bytes().strip()
        source = f"file {salt_file!r}"
    else:
        salt = os.environ.get(SALT_ENV, "").encode()
        source = f"env var {SALT_ENV}"
    if len(salt) < 8:
        raise InputError(f"user-id hashing needs a salt of at least 8 bytes; {source} gave "
                         f"{len(salt)}. Fix: `export {SALT_ENV}=<random secret>` or pass --salt-file.")
    return salt


def hash_user_ids(user_ids: pd.Series, salt: bytes) -> pd.Series:
    """HMAC-SHA256(salt, user_id), first 16 hex chars, prefixed "h:". Same input -> same output."""
    cache: dict[str, str] = {}

    def one(uid: str) -> str:
        if uid not in cache:
            cache[uid] = "h:" + hmac.new(salt, uid.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        return cache[uid]

    return user_ids.astype(str).map(one).astype("string")
