"""Signed audit bundles: an excerpt of the audit chain for an investigation, checkable offline.

A bundle is a zip file holding:

- ``records.jsonl``: one audit record a line, ``{"pos", "seq", "id", "type", "at", "body"}``,
  ``body`` being the record's stored JSON text exactly as chained;
- ``chain.jsonl``: the link of each record, ``{"pos", "seq", "prev", "hash"}``;
- ``manifest.json``: the format, the source database, the time range asked for, the number of
  records, the anchor (the position and hash the first record follows), the last hash, the
  last hash of the whole chain at export time, the SHA-256 of both files above and the signing
  public key (raw Ed25519, hex);
- ``manifest.sig``: the Ed25519 signature of ``manifest.json``'s bytes, hex.

The excerpt is contiguous in the chain: from the first record whose time is within ``since`` ..
``until`` to the last one whose time is (the records between them are included whatever their
time), so it is verified exactly like the whole chain, from its anchor.
Verifying checks, in order: the zip, the signature (against the key in the manifest, and
against the key the investigator was given if one is passed, since anyone can sign a forged
bundle with a key of their own), the files' digests, then the chain itself.

The signing key lives in the data directory as ``audit-signing.key`` (PKCS #8 PEM), created on
first use with owner-only permissions; a key file that others can read is refused. It is
never printed or logged; only its public half is.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from holdfire.adapters.store.audit import (
    GENESIS,
    AuditTrail,
    ChainCheck,
    Link,
    Record,
    record_id,
    verify,
)
from holdfire.adapters.store.encoding import dumps
from holdfire.codecs.json import format_time, parse_time

__all__ = [
    "KEY_FILENAME",
    "BundleError",
    "BundleSummary",
    "load_key",
    "public_hex",
    "read_bundle",
    "write_bundle",
]

KEY_FILENAME: Final = "audit-signing.key"
FORMAT: Final = "holdfire-audit-bundle/1"
_RECORDS: Final = "records.jsonl"
_CHAIN: Final = "chain.jsonl"
_MANIFEST: Final = "manifest.json"
_SIGNATURE: Final = "manifest.sig"
_FIXED_TIME: Final = (1980, 1, 1, 0, 0, 0)  # zip entries carry no clock: same input, same bytes


class BundleError(Exception):
    """A bundle that cannot be written, or one that does not verify (the message says why)."""


@dataclass(frozen=True, slots=True)
class BundleSummary:
    """What a bundle holds, once written or verified."""

    records: int
    first_pos: int
    last_pos: int
    last_hash: str
    public_key: str

    def __str__(self) -> str:
        span = f"positions {self.first_pos}-{self.last_pos}" if self.records else "no records"
        return f"{self.records} records, {span}, last hash {self.last_hash}"


def public_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def load_key(data_dir: Path) -> Ed25519PrivateKey:
    """The data directory's signing key, created (owner-only) if there is none yet."""
    path = data_dir / KEY_FILENAME
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    except OSError as error:
        raise BundleError(f"cannot create the signing key {path}: {error.strerror}") from None
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    return key


def _read_key(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BundleError(
                f"the signing key {path} can be read by others (mode {stat.S_IMODE(mode):o}); "
                "make it owner-only (chmod 600) or replace it"
            )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise BundleError(f"cannot read the signing key {path}: {error.strerror}") from None
    except ValueError:
        raise BundleError(f"{path} is not a signing key holdfire can read") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 key")
    return key


def _select(
    trail: AuditTrail, since: datetime | None, until: datetime | None
) -> tuple[tuple[int, str], list[Link]]:
    """The contiguous run of links from the first record whose time is in the range to the last
    one whose time is, and the anchor the first of them follows."""
    links = sorted(trail.links, key=lambda item: item.pos)
    inside = [
        i
        for i, item in enumerate(links)
        if (since is None or parse_time(trail.records[item.seq].at) >= since)
        and (until is None or parse_time(trail.records[item.seq].at) <= until)
    ]
    chosen = links[inside[0] : inside[-1] + 1] if inside else []
    anchor = (chosen[0].pos - 1, chosen[0].prev) if chosen else (0, GENESIS)
    return anchor, chosen


def _lines(rows: Sequence[dict[str, Any]]) -> bytes:
    return "".join(dumps(row) + "\n" for row in rows).encode("utf-8")


def write_bundle(
    out: Path,
    trail: AuditTrail,
    key: Ed25519PrivateKey,
    *,
    source: str,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> BundleSummary:
    """Write a signed bundle of the chain's records between ``since`` and ``until``.

    Refuses a chain that does not verify (the bundle would sign a broken record) and an ``out``
    that exists (evidence is not overwritten)."""
    whole = trail.check()
    if whole.broken is not None:
        raise BundleError(f"not exporting: {whole.broken}")
    anchor, links = _select(trail, since, until)
    records = [trail.records[item.seq] for item in links]
    records_bytes = _lines(
        [
            {
                "pos": i.pos,
                "seq": r.seq,
                "id": record_id(r),
                "type": r.type,
                "at": r.at,
                "body": r.body,
            }
            for i, r in zip(links, records, strict=True)
        ]
    )
    chain_bytes = _lines(
        [{"pos": i.pos, "seq": i.seq, "prev": i.prev, "hash": i.hash} for i in links]
    )
    last_hash = links[-1].hash if links else anchor[1]
    manifest = {
        "format": FORMAT,
        "created_at": format_time(now),
        "source": source,
        "since": None if since is None else format_time(since),
        "until": None if until is None else format_time(until),
        "records": len(links),
        "anchor": {"pos": anchor[0], "hash": anchor[1]},
        "last_hash": last_hash,
        "chain_last_hash": whole.last_hash,
        "genesis": GENESIS,
        "files": {
            _RECORDS: hashlib.sha256(records_bytes).hexdigest(),
            _CHAIN: hashlib.sha256(chain_bytes).hexdigest(),
        },
        "public_key": public_hex(key),
        "signature": "Ed25519 over the bytes of manifest.json, hex in manifest.sig",
    }
    manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    signature = key.sign(manifest_bytes).hex().encode("ascii") + b"\n"
    members = (
        (_MANIFEST, manifest_bytes),
        (_SIGNATURE, signature),
        (_RECORDS, records_bytes),
        (_CHAIN, chain_bytes),
    )
    partial = out.with_name(out.name + ".partial")
    try:
        if out.exists():
            raise BundleError(f"{out} exists; choose another file name")
        with zipfile.ZipFile(partial, "x", zipfile.ZIP_DEFLATED) as bundle:
            for name, data in members:
                info = zipfile.ZipInfo(name, _FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, data)
        os.replace(partial, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise BundleError(f"cannot write {out}: {error.strerror or error}") from None
    first_pos = links[0].pos if links else 0
    last_pos = links[-1].pos if links else 0
    return BundleSummary(len(links), first_pos, last_pos, last_hash, public_hex(key))


def _fail(reason: str) -> BundleError:
    return BundleError(f"the bundle does not verify: {reason}")


def _members(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as bundle:
            names = set(bundle.namelist())
            missing = [n for n in (_MANIFEST, _SIGNATURE, _RECORDS, _CHAIN) if n not in names]
            if missing:
                raise _fail(f"it lacks {', '.join(missing)}")
            return {n: bundle.read(n) for n in (_MANIFEST, _SIGNATURE, _RECORDS, _CHAIN)}
    except OSError as error:
        raise BundleError(f"cannot read {path}: {error.strerror or error}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError) as error:
        # A changed byte shows up here first: the zip's own CRC or structure no longer holds.
        raise _fail(f"the zip file is damaged ({error})") from None


def _json_lines(name: str, data: bytes, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(data.decode("utf-8", "strict").splitlines(), start=1):
        try:
            row = json.loads(line)
        except ValueError as error:
            raise _fail(f"{name} line {number} is not JSON ({error})") from None
        if not isinstance(row, dict) or any(k not in row for k in keys):
            raise _fail(f"{name} line {number} lacks one of {', '.join(keys)}")
        rows.append(row)
    return rows


def read_bundle(path: Path, *, expected_key: str | None = None) -> BundleSummary:
    """Verify a bundle offline (see the module docstring); BundleError names what fails."""
    files = _members(path)
    try:
        manifest = json.loads(files[_MANIFEST])
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(manifest["public_key"]))
        signature = bytes.fromhex(files[_SIGNATURE].decode("ascii").strip())
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise _fail(f"its manifest or signature cannot be read ({error})") from None
    try:
        public.verify(signature, files[_MANIFEST])
    except InvalidSignature:
        raise _fail("the signature of manifest.json does not match (manifest changed?)") from None
    key_hex = public_hex(public)
    if expected_key is not None and expected_key.strip().lower() != key_hex:
        raise _fail(f"it is signed by the key {key_hex}, not the expected {expected_key}")
    try:
        digests = dict(manifest["files"])
        anchor = (int(manifest["anchor"]["pos"]), str(manifest["anchor"]["hash"]))
        count, last_hash = int(manifest["records"]), str(manifest["last_hash"])
    except (ValueError, KeyError, TypeError) as error:
        raise _fail(f"its manifest lacks a field ({error})") from None
    for name in (_RECORDS, _CHAIN):
        if hashlib.sha256(files[name]).hexdigest() != digests.get(name):
            raise _fail(f"{name} is not the file the manifest signed (changed after export)")
    try:
        rows = _json_lines(_RECORDS, files[_RECORDS], ("pos", "seq", "type", "at", "body"))
        chain = _json_lines(_CHAIN, files[_CHAIN], ("pos", "seq", "prev", "hash"))
        records = {
            int(r["seq"]): Record(int(r["seq"]), str(r["type"]), str(r["at"]), str(r["body"]))
            for r in rows
        }
        links = [Link(int(c["pos"]), int(c["seq"]), str(c["prev"]), str(c["hash"])) for c in chain]
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise _fail(f"a record cannot be read ({error})") from None
    if sorted(records) != sorted(item.seq for item in links):
        raise _fail(f"{_RECORDS} and {_CHAIN} do not name the same records")
    check: ChainCheck = verify(links, records, start=anchor)
    if check.broken is not None:
        raise _fail(str(check.broken))
    if check.records != count or check.last_hash != last_hash:
        raise _fail(
            f"it holds {check.records} records ending in {check.last_hash}; the manifest says "
            f"{count} ending in {last_hash}"
        )
    first_pos = min((item.pos for item in links), default=0)
    last_pos = max((item.pos for item in links), default=0)
    return BundleSummary(check.records, first_pos, last_pos, last_hash, key_hex)
