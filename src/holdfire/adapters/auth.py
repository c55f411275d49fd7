"""API tokens: new secrets, their hashes, and the admin token of a first start.

A token is `hf_` followed by 32 random bytes (URL-safe base64). Only its SHA-256 is stored: the
secret has 256 bits of entropy, so a slow password hash would add nothing but latency to every
request. The secret is shown once, when it is made.
"""

import contextlib
import hashlib
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from holdfire.domain.access import ApiToken, Role
from holdfire.domain.events import TokenIssued, TokenRevoked
from holdfire.service.ports import Store

TOKEN_PREFIX = "hf_"
ADMIN_TOKEN_FILE = "admin.token"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.strip().encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    secret: str  # shown once, never stored
    token: ApiToken


def new_token(
    name: str,
    role: Role,
    *,
    units: tuple[str, ...] = (),
    by: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> NewToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=uuid.uuid4().hex[:12],
        name=name.strip(),
        role=role,
        secret_hash=hash_secret(secret),
        created_at=now,
        units=units,
        created_by=by,
        expires_at=expires_at,
    )
    return NewToken(secret, token)


def write_secret_file(path: Path, secret: str) -> None:
    """Write a secret readable only by its owner (mode 0600 from the start, then renamed into
    place, so it is never readable by others, even for an instant)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secret + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class TokenError(ValueError):
    """A token request that cannot be carried out (the name is taken, no such token)."""


async def create_token(
    store: Store,
    name: str,
    role: Role,
    *,
    units: tuple[str, ...] = (),
    by: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> NewToken:
    """Issue a token; names are unique among active tokens, so the audit trail is unambiguous.
    A token with ``expires_at`` stops working then, on every request and open stream."""
    if expires_at is not None and expires_at <= now:
        raise TokenError("the expiry must be in the future")
    made = new_token(name, role, units=units, by=by, now=now, expires_at=expires_at)
    if any(t.active and t.name == made.token.name for t in await store.list_tokens()):
        raise TokenError(f"an active token named {made.token.name!r} exists; revoke it first")
    await store.append([TokenIssued(made.token)])
    return made


async def revoke_token(store: Store, key: str, *, by: str, now: datetime) -> ApiToken:
    """Revoke the active token with this id or name; it stops working at the next request."""
    matches = [t for t in await store.list_tokens() if t.active and key in (t.id, t.name)]
    if not matches:
        raise TokenError(f"no active token with id or name {key!r}")
    token = matches[0]
    await store.append([TokenRevoked(token.id, now, by)])
    return token


async def ensure_admin_token(store: Store, data_dir: Path, now: datetime) -> Path | None:
    """On the first start (no token issued yet), make an admin token and write it to
    DATA_DIR/admin.token, readable only by its owner. Returns the file's path if it made one."""
    if await store.list_tokens():
        return None
    made = new_token("admin", Role.ADMIN, by="holdfire (first start)", now=now)
    path = data_dir / ADMIN_TOKEN_FILE
    write_secret_file(path, made.secret)  # on disk before it can be used
    await store.append([TokenIssued(made.token)])
    return path
