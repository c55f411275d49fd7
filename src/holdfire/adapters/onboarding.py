"""Onboarding phones: a one-time link to a client's data package, the QR code that carries it,
and which certificates are about to expire.

**What the QR code carries.** ATAK scans three kinds of QR code: `tak://com.atakmap.app/enroll
?host=…&username=…&token=…` (certificate enrolment against TAK Server's enrolment API, which
holdfire does not offer: its certificates are issued by the operator, each binding a uid),
`tak://com.atakmap.app/preference?…` (preferences only, no certificate), and
`tak://com.atakmap.app/import?url=<percent-encoded URL>`, which makes ATAK download a data
package and import it. iTAK scans "Quick Connect" CSV (`name,host,port,ssl`), which carries no
certificate and leaves iTAK asking for a user name and password. So the QR code holds ATAK's
import link to the client's own package; for iTAK (`for_itak`) it holds the plain link, which
the phone's camera opens, and the downloaded zip is opened in iTAK (Network, Servers, +, Upload
Server Package).

**The link** is `<base>/api/v1/enroll/<secret>.zip`, served by the HTTP listener without a
token: the secret (128 random bits) is the credential. It works once, and for
:data:`OFFER_TTL` only: the store keeps the secret's SHA-256 and the deadline in
``clients/offers/<sha256>.json`` (0600), with the package's own hash (re-issuing the client
ends its links), and the first download removes it. A package taken by
someone else makes the device's own download fail: revoke the client and issue a new one. The
package holds the key and its password, so the link is as secret as the key; over plain HTTP
anyone on the network path can read the download, which is why it is short-lived and single-use.

**Expiry.** :func:`expiring` lists the CA, the server certificate and every client certificate
not revoked that ends within :data:`EXPIRY_WARNING` (or has ended); the server logs each at
start and once a day, and ``holdfire certs list`` shows it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import segno
from cryptography import x509
from cryptography.x509.oid import NameOID

from holdfire.adapters.certs import CertStore, CertStoreError, _bound_uid, _load_cert, _write

OFFER_TTL = timedelta(minutes=15)
EXPIRY_WARNING = timedelta(days=14)
ATAK_IMPORT = "tak://com.atakmap.app/import?url="
ENROLL_PATH = "/api/v1/enroll/"
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True, slots=True)
class Offer:
    """A one-time download of a client's data package, and its QR code."""

    name: str
    url: str  # where the package can be downloaded, once
    qr_text: str  # what the QR code says: ATAK's import link, or the plain URL for iTAK
    expires_at: datetime
    png_path: Path  # the QR code as a PNG (0600: it carries the secret)

    def terminal(self) -> str:
        """The QR code drawn with block characters, light on dark, for a terminal."""
        out = io.StringIO()
        segno.make(self.qr_text, error="m").terminal(out=out, compact=True)
        return out.getvalue()


def offers_dir(store: CertStore) -> Path:
    return store.clients_dir / "offers"


def _offer_path(store: CertStore, secret: str) -> Path:
    return offers_dir(store) / f"{hashlib.sha256(secret.encode()).hexdigest()}.json"


def offer_package(
    store: CertStore,
    name: str,
    base_url: str,
    *,
    now: datetime,
    ttl: timedelta = OFFER_TTL,
    for_itak: bool = False,
) -> Offer:
    """Make client ``name``'s data package downloadable once, within ``ttl``, at a new link
    under ``base_url`` (the server's HTTP listener as the phone reaches it); write its QR code
    as ``clients/<name>-qr.png``."""
    package = store.clients_dir / f"{name}.zip"
    if not package.is_file():
        raise CertStoreError(f"no data package for {name!r}: run `holdfire certs client` first")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"the download URL must start with http:// or https://, got {base_url!r}")
    directory = offers_dir(store)
    directory.mkdir(mode=0o700, exist_ok=True)
    _prune(store, now)
    secret = secrets.token_urlsafe(16)
    expires_at = now + ttl
    # The package's hash too: a link made before the client was re-issued offers nothing.
    record = {"name": name, "expires_at": expires_at.isoformat(), "sha256": _sha256(package)}
    _write(_offer_path(store, secret), json.dumps(record).encode(), 0o600, overwrite=False)
    url = f"{base_url.rstrip('/')}{ENROLL_PATH}{secret}.zip"
    qr_text = url if for_itak else ATAK_IMPORT + quote(url, safe="")
    png = io.BytesIO()
    segno.make(qr_text, error="m").save(png, kind="png", scale=8, border=4)
    png_path = store.clients_dir / f"{name}-qr.png"
    _write(png_path, png.getvalue(), 0o600, overwrite=True)
    return Offer(name, url, qr_text, expires_at, png_path)


def take_offer(store: CertStore, secret: str, *, now: datetime) -> tuple[str, bytes] | None:
    """The data package a link's secret offers, once; None if unknown, used or expired."""
    if not _SECRET_RE.fullmatch(secret):
        return None
    path = _offer_path(store, secret)
    claimed = path.with_name(f".{path.name}.{secrets.token_hex(4)}.taken")
    try:
        os.rename(path, claimed)  # atomic: of two downloads at once, one gets it
    except FileNotFoundError:
        return None
    try:
        record = json.loads(claimed.read_text())
        name, expires_at = str(record["name"]), datetime.fromisoformat(record["expires_at"])
        wanted = str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        claimed.unlink(missing_ok=True)
    if now >= expires_at:
        return None
    try:
        package = (store.clients_dir / f"{name}.zip").read_bytes()
    except OSError:
        return None
    return (name, package) if hashlib.sha256(package).hexdigest() == wanted else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _prune(store: CertStore, now: datetime) -> None:
    """Forget offers past their deadline."""
    for path in offers_dir(store).glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if now >= datetime.fromisoformat(json.loads(path.read_text())["expires_at"]):
                path.unlink()


# -- expiry ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertStatus:
    """One certificate of the store and where it stands."""

    kind: str  # ca, server, client
    name: str
    uid: str | None
    serial: int
    not_after: datetime
    revoked: bool

    def days_left(self, now: datetime) -> int:
        """Whole days until it ends, a part-day counted as one (0 or less: it has ended)."""
        return math.ceil((self.not_after - now) / timedelta(days=1))

    def state(self, now: datetime, within: timedelta = EXPIRY_WARNING) -> str:
        if self.revoked:
            return "revoked"
        if self.not_after <= now:
            return "expired"
        return "expires soon" if self.not_after - now <= within else "ok"


def inventory(store: CertStore) -> list[CertStatus]:
    """The CA, the server certificate and every client certificate, in that order."""
    if not store.exists():
        raise CertStoreError(f"no CA in {store.directory}: run `holdfire certs init` first")
    revoked = store.revoked_serials()
    found = [
        _status("ca", _load_cert(store.ca_cert_path), revoked),
        _status("server", _load_cert(store.server_cert_path), revoked),
    ]
    for path in sorted(store.clients_dir.glob("*.pem")):
        found.append(_status("client", _load_cert(path), revoked))
    return found


def _status(kind: str, cert: x509.Certificate, revoked: frozenset[int]) -> CertStatus:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(cns[0].value) if cns else cert.subject.rfc4514_string()
    return CertStatus(
        kind=kind,
        name=name,
        uid=_bound_uid(cert) if kind == "client" else None,
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
        revoked=cert.serial_number in revoked,
    )


def expiring(
    store: CertStore, now: datetime, within: timedelta = EXPIRY_WARNING
) -> list[CertStatus]:
    """Certificates not revoked that end within ``within`` of ``now``, or have ended."""
    return [c for c in inventory(store) if c.state(now, within) in ("expires soon", "expired")]


def expiry_message(status: CertStatus, now: datetime) -> str:
    """One line that says which certificate ends when, and what to do about it."""
    what = {"ca": "the CA certificate", "server": "the server certificate"}.get(
        status.kind, f"client certificate {status.name}"
    )
    when = f"{status.not_after:%Y-%m-%d}"
    if status.not_after <= now:
        head = f"{what} expired on {when}"
    else:
        head = f"{what} expires on {when} (in {status.days_left(now)} days)"
    fix = {
        "ca": "make a new CA and re-issue every certificate before then",
        "server": "re-issue it: move server.pem and server.key away and run holdfire certs init",
    }.get(status.kind, f"re-issue it: holdfire certs client {status.name} --replace ...")
    return f"{head}: {fix}"
