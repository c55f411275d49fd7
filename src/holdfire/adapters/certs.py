"""Certificates for the TLS CoT listener: a private CA, the server certificate, client bundles.

What this fixes that TAK peers get wrong (tak.md §5): there is no default password (every PKCS#12
password is generated, or refused if it is a well-known default or short); a client certificate
*names the uid* it may report for (design.md §5: "A TLS client may only report positions for the
uid its certificate names"); and the store keeps one public copy of every issued client
certificate, so revocation has the serials it needs.

**Revocation.** ``revoke(name)`` adds the client's serial to ``crl.pem``, an X.509 CRL signed by
the CA (re-signed whole on every revocation; ``next_update`` a year on, so tools that honour it
accept it). The CoT server does not load it into OpenSSL: Python's ``ssl`` can add a CRL to a
context but never remove or replace one, and asyncio keeps one context for the listener's
life, so a new CRL would need undocumented context swapping. Instead :class:`Revocations`
reads the CRL (its signature checked against the CA) whenever the file changes, the server
looks every verified client certificate's serial up in it right after the handshake, before a
byte is read, and cuts off open connections whose serial it newly lists.

**Where the uid lives.** The uid is bound in a SubjectAlternativeName URI,
``urn:holdfire:uid:<uid>`` (the uid percent-encoded, RFC 3986 unreserved characters and ``:``
kept). Not in the CN, because the CN is the human name the operator chose (a callsign or a
device label) and TAK uids (``ANDROID-…``, UUIDs) are not names; not in a custom OID, because a
SAN URI is standard, shown by every certificate viewer and kept by every CA tool. A certificate
without such a URI (or with two) yields ``uid=None`` from :func:`identity_from_peercert`, and the
server must treat its reports as not the sender's own.

**Key types.** The CA and the server use EC P-256 (fast, small, and every TAK client's TLS stack
verifies ECDSA chains). Client certificates default to RSA 2048, because that is what TAK
Server's own tooling issues and what every TAK client (ATAK, iTAK, WinTAK) is known to import;
``key_type="ec-p256"`` is there for tools and tests.

**PKCS#12 encryption.** The ``.p12`` files use PBES1 SHA1/3DES with a SHA-1 MAC (the "legacy"
OpenSSL 1.1 format): Android's BouncyCastle keystore, which ATAK uses, rejects PKCS#12 files
with a SHA-256 MAC (AndroidTacticalAssaultKit-CIV issue #224). The weak KDF matters little here
because the password is 96 random bits.

Layout of ``<data>/certs/`` (directories 0700, private keys and client bundles 0600)::

    ca.pem  ca.key  server.pem  server.key  crl.pem (once a client is revoked)
    clients/<name>.pem            the client certificate (public; kept for revocation)
    clients/<name>.p12            key + certificate + CA, password-protected
    clients/<name>-truststore.p12 the CA certificate, same password
    clients/<name>.zip            ATAK/iTAK data package (holds the password, see CertStore.client)
    clients/replaced/<serial>.pem earlier certificates of a replaced client (for revocation)

The ``now`` passed in sets the validity periods; certificates start five minutes earlier, so a
device whose clock is a little behind still accepts them.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import os
import re
import secrets
import shutil
import ssl
import tempfile
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("holdfire.certs")

KeyType = Literal["ec-p256", "rsa-2048"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

UID_URI_PREFIX = "urn:holdfire:uid:"
DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1")
DEFAULT_TLS_PORT = 8089
CA_VALIDITY = timedelta(days=3652)  # 10 years
SERVER_VALIDITY = timedelta(days=730)  # 2 years
CLIENT_VALIDITY = timedelta(days=365)  # 1 year
CRL_VALIDITY = timedelta(days=365)
BACKDATE = timedelta(minutes=5)
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
PASSWORD_BYTES = 12  # secrets.token_urlsafe(12) is 16 characters, 96 bits
MIN_PASSWORD_LENGTH = 12
# Passwords shipped as defaults by TAK Server, FreeTAKServer and friends (tak.md §5).
KNOWN_DEFAULT_PASSWORDS = frozenset(
    {"atakatak", "supersecret", "password", "changeme", "defaultpass", "administrator"}
)
PREF_NAME = "holdfire.pref"
PREF_CERT_DIR = "cert/"  # where ATAK files the .p12s it imports; the pref names them there
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST_RE = re.compile(r"[A-Za-z0-9.-]{1,253}")


class CertStoreError(Exception):
    """The certificate store is missing, incomplete or inconsistent, or a request is refused."""


@dataclass(frozen=True)
class InitResult:
    """What :meth:`CertStore.init` did: ``False`` means the existing file was kept."""

    ca_created: bool
    server_created: bool

    @property
    def created(self) -> bool:
        return self.ca_created or self.server_created


@dataclass(frozen=True)
class ClientBundle:
    """The files made for one client. ``password`` is shown once and stored nowhere else."""

    name: str
    uid: str
    p12_path: Path
    truststore_path: Path
    package_path: Path
    password: str
    serial: int
    not_after: datetime


@dataclass(frozen=True)
class Revoked:
    """What :meth:`CertStore.revoke` did; ``already`` means the serial was listed before."""

    name: str
    serial: int
    already: bool


@dataclass(frozen=True)
class TlsIdentity:
    """Who a verified TLS client certificate names. ``uid`` is None if it binds no uid."""

    name: str
    uid: str | None
    serial: int
    not_after: datetime


class CertStore:
    """The CA, the server certificate and client bundles under one ``certs/`` directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    # -- paths -------------------------------------------------------------------------------

    @property
    def ca_cert_path(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server_cert_path(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key_path(self) -> Path:
        return self.directory / "server.key"

    @property
    def clients_dir(self) -> Path:
        return self.directory / "clients"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.pem"

    def exists(self) -> bool:
        """True if the CA and the server certificate and their keys are all there."""
        return all(
            p.exists()
            for p in (
                self.ca_cert_path,
                self.ca_key_path,
                self.server_cert_path,
                self.server_key_path,
            )
        )

    # -- init --------------------------------------------------------------------------------

    def init(
        self,
        server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
        *,
        now: datetime,
        renew_server: bool = False,
    ) -> InitResult:
        """Create the CA and the server certificate unless they exist; never replace a CA.

        Idempotent: with both present it does nothing and returns ``InitResult(False, False)``.
        Half a CA (a certificate without its key, or the reverse, or a key that does not match)
        is an error, never silently replaced. The server certificate is (re)issued if it is
        missing, incomplete, not issued by this CA, or if ``renew_server`` (say, for new
        ``server_names``); the CA is kept.
        """
        _require_aware(now)
        names = _check_server_names(server_names)
        self._make_dirs()
        ca_files = (self.ca_cert_path.exists(), self.ca_key_path.exists())
        ca_created = False
        if ca_files == (False, False):
            self._create_ca(now)
            ca_created = True
        elif ca_files != (True, True):
            present = self.ca_cert_path if ca_files[0] else self.ca_key_path
            raise CertStoreError(
                f"incomplete CA in {self.directory}: only {present.name} exists; "
                "refusing to create a new CA over it (restore the missing file or move both away)"
            )
        ca_cert, ca_key = self._load_ca()
        if renew_server or ca_created or not self._server_issued_by(ca_cert):
            self._issue_server(ca_cert, ca_key, names, now)
            return InitResult(ca_created=ca_created, server_created=True)
        return InitResult(ca_created=ca_created, server_created=False)

    def server_names(self) -> list[str]:
        """The DNS names and IP addresses in the server certificate's SubjectAlternativeName."""
        cert = _load_cert(self.server_cert_path)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns: list[str] = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        return dns + ips

    # -- clients -----------------------------------------------------------------------------

    def client(
        self,
        name: str,
        uid: str,
        *,
        now: datetime,
        host: str,
        port: int = DEFAULT_TLS_PORT,
        password: str | None = None,
        key_type: KeyType = "rsa-2048",
        replace: bool = False,
    ) -> ClientBundle:
        """Issue a client certificate for ``uid`` and write its .p12, truststore and data package.

        ``name`` becomes the subject CN and the file names (letters, digits, ``.``, ``_``, ``-``);
        ``uid`` is bound in the SAN URI ``urn:holdfire:uid:<uid>``. The .p12 holds the key, the
        certificate and the CA; ``<name>-truststore.p12`` holds the CA certificate; both use the
        same password, generated (16 URL-safe characters) unless given. The password is returned
        to be shown once and is not stored in plain text anywhere **except inside the data
        package's ``holdfire.pref``**: ATAK reads ``clientPassword`` and ``caPassword`` from there
        to open the .p12 files it imports, so the .zip (mode 0600) is as secret as the key itself.
        The manifest asks ATAK to delete the package after import.

        The data package connects to ``host:port:ssl``. Refuses to overwrite an existing client
        of the same name unless ``replace``: the old certificate stays valid until revoked, and
        is kept under ``clients/replaced/`` so that ``revoke(name)`` revokes it too.
        """
        _require_aware(now)
        _check_name(name)
        _check_uid(uid)
        _check_host(host)
        if not 0 < port < 65536:
            raise ValueError(f"port out of range: {port}")
        if password is None:
            password = secrets.token_urlsafe(PASSWORD_BYTES)
        else:
            _check_password(password)
        if not (self.ca_cert_path.exists() and self.ca_key_path.exists()):
            raise CertStoreError(f"no CA in {self.directory}: run `holdfire certs init` first")
        self._make_dirs()
        cert_path = self.clients_dir / f"{name}.pem"
        p12_path = self.clients_dir / f"{name}.p12"
        truststore_path = self.clients_dir / f"{name}-truststore.p12"
        package_path = self.clients_dir / f"{name}.zip"
        outputs = (cert_path, p12_path, truststore_path, package_path)
        if not replace and any(p.exists() for p in outputs):
            raise CertStoreError(f"client {name!r} already exists in {self.clients_dir}")

        ca_cert, ca_key = self._load_ca()
        key = _new_key(key_type)
        cert = _client_cert(ca_cert, ca_key, key, name, uid, now)
        p12 = pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, [ca_cert], _p12_encryption(password)
        )
        truststore = pkcs12.serialize_key_and_certificates(
            None,
            None,
            None,
            [pkcs12.PKCS12Certificate(ca_cert, b"holdfire-ca")],
            _p12_encryption(password),
        )
        package = _data_package(name, p12, truststore_path.name, truststore, password, host, port)

        if cert_path.exists():
            old = _load_cert(cert_path)
            replaced = self.clients_dir / "replaced"
            replaced.mkdir(mode=0o700, exist_ok=True)
            _write(replaced / f"{old.serial_number:x}.pem", _pem(old), 0o644, overwrite=True)
        _write(p12_path, p12, 0o600, overwrite=replace)
        _write(truststore_path, truststore, 0o600, overwrite=replace)
        _write(package_path, package, 0o600, overwrite=replace)
        _write(cert_path, _pem(cert), 0o644, overwrite=replace)
        return ClientBundle(
            name=name,
            uid=uid,
            p12_path=p12_path,
            truststore_path=truststore_path,
            package_path=package_path,
            password=password,
            serial=cert.serial_number,
            not_after=cert.not_valid_after_utc,
        )

    # -- revocation --------------------------------------------------------------------------

    def revoke(self, name: str, *, now: datetime) -> Revoked:
        """List client ``name``'s certificate in the CRL; idempotent.

        The CRL is rebuilt with every earlier entry plus this one, signed by the CA and
        written atomically, so a reader sees the old list or the new one, never half of one.
        """
        _require_aware(now)
        _check_name(name)
        cert_path = self.clients_dir / f"{name}.pem"
        if not cert_path.exists():
            raise CertStoreError(f"no client {name!r} in {self.clients_dir}")
        serial = _load_cert(cert_path).serial_number
        serials = {serial} | self._replaced_serials(name)
        ca_cert, ca_key = self._load_ca()
        entries = list(self._crl(ca_cert)) if self.crl_path.exists() else []
        new = serials - {entry.serial_number for entry in entries}
        if not new:
            return Revoked(name, serial, already=True)
        entries += [
            x509.RevokedCertificateBuilder()
            .serial_number(each)
            .revocation_date(now)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
            for each in sorted(new)
        ]
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now)
            .next_update(now + CRL_VALIDITY)
        )
        for entry in entries:
            builder = builder.add_revoked_certificate(entry)
        crl = builder.sign(ca_key, hashes.SHA256())
        _write(self.crl_path, crl.public_bytes(serialization.Encoding.PEM), 0o644, overwrite=True)
        return Revoked(name, serial, already=False)

    def _replaced_serials(self, name: str) -> set[int]:
        """Serials of earlier certificates of ``name`` that ``client(replace=True)`` kept."""
        serials = set()
        for path in sorted((self.clients_dir / "replaced").glob("*.pem")):
            cert = _load_cert(path)
            cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if cns and cns[0].value == name:
                serials.add(cert.serial_number)
        return serials

    def revoked_serials(self) -> frozenset[int]:
        """The serials the CRL lists (none without a CRL); a CRL the CA did not sign is an
        error, never an empty list."""
        if not self.crl_path.exists():
            return frozenset()
        crl = self._crl(_load_cert(self.ca_cert_path))
        return frozenset(entry.serial_number for entry in crl)

    def _crl(self, ca_cert: x509.Certificate) -> x509.CertificateRevocationList:
        try:
            crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CertStoreError(f"cannot read {self.crl_path}: {exc}") from exc
        public_key = ca_cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise CertStoreError(f"unsupported CA key type in {self.ca_cert_path}")
        if crl.issuer != ca_cert.subject or not crl.is_signature_valid(public_key):
            raise CertStoreError(f"{self.crl_path} is not signed by this CA")
        return crl

    # -- TLS contexts ------------------------------------------------------------------------

    def server_ssl_context(self) -> ssl.SSLContext:
        """A TLS server context: TLS 1.2 or later, client certificates required and verified.

        Client certificates must chain to this store's CA and carry EKU clientAuth (OpenSSL's
        client purpose check, so the server certificate cannot be used as a client one). TLS
        1.2 is limited to ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3 suites are all AEAD.

        Revocation is checked by the server after the handshake (:class:`Revocations`), not
        here: see the module docstring.
        """
        for path in (self.ca_cert_path, self.server_cert_path, self.server_key_path):
            if not path.exists():
                raise CertStoreError(f"missing {path}: run `holdfire certs init` first")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(TLS12_CIPHERS)
        ctx.options |= (
            ssl.OP_NO_COMPRESSION
            | ssl.OP_CIPHER_SERVER_PREFERENCE
            | ssl.OP_SINGLE_ECDH_USE
            | ssl.OP_NO_RENEGOTIATION
        )
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        ctx.load_verify_locations(cafile=str(self.ca_cert_path))
        ctx.load_cert_chain(str(self.server_cert_path), str(self.server_key_path))
        return ctx

    def client_ssl_context(self, p12_path: Path, password: str) -> ssl.SSLContext:
        """A TLS client context from a client .p12, trusting this store's CA."""
        return client_ssl_context(p12_path, password, cafile=self.ca_cert_path)

    # -- internals ---------------------------------------------------------------------------

    def _make_dirs(self) -> None:
        for directory in (self.directory, self.clients_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)

    def _create_ca(self, now: datetime) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"holdfire CA {secrets.token_hex(4)}"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "holdfire"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        # Key first: a crash in between leaves "key without certificate", which init refuses.
        _write(self.ca_key_path, _private_pem(key), 0o600, overwrite=False)
        _write(self.ca_cert_path, _pem(cert), 0o644, overwrite=False)

    def _load_ca(self) -> tuple[x509.Certificate, PrivateKey]:
        cert = _load_cert(self.ca_cert_path)
        key = _load_key(self.ca_key_path)
        if cert.public_key() != key.public_key():
            raise CertStoreError(f"{self.ca_key_path} does not match {self.ca_cert_path}")
        return cert, key

    def _server_issued_by(self, ca_cert: x509.Certificate) -> bool:
        if not (self.server_cert_path.exists() and self.server_key_path.exists()):
            return False
        try:
            cert = _load_cert(self.server_cert_path)
            key = _load_key(self.server_key_path)
            cert.verify_directly_issued_by(ca_cert)
        except (CertStoreError, ValueError, TypeError, InvalidSignature):
            return False
        return cert.public_key() == key.public_key()

    def _issue_server(
        self,
        ca_cert: x509.Certificate,
        ca_key: PrivateKey,
        names: list[str],
        now: datetime,
    ) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names: list[x509.GeneralName] = []
        for server_name in names:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(server_name)))
            except ValueError:
                alt_names.append(x509.DNSName(server_name))
        cert = (
            _leaf_builder(ca_cert, key, names[0], now, SERVER_VALIDITY)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(self.server_key_path, _private_pem(key), 0o600, overwrite=True)
        _write(self.server_cert_path, _pem(cert), 0o644, overwrite=True)


class Revocations:
    """The CRL's serials as the running server sees them, re-read when the file changes.

    ``refresh`` costs one ``stat`` when nothing changed, so it is called on every handshake
    and by the server's watch loop. At start a CRL that cannot be read or is not signed by the
    CA is an error (the server does not start); later such a file is logged and ignored, and
    the serials already known stay revoked (a broken file never un-revokes anyone).
    """

    def __init__(self, store: CertStore) -> None:
        self.store = store
        self._seen = self._stat()
        self.serials: frozenset[int] = store.revoked_serials()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = self.store.crl_path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def refresh(self) -> frozenset[int]:
        """Re-read the CRL if it changed; returns the serials it newly lists."""
        seen = self._stat()
        if seen is None or seen == self._seen:
            return frozenset()
        try:
            serials = self.store.revoked_serials()
        except CertStoreError as exc:
            log.error("revocation list not applied: %s", exc)
            return frozenset()
        self._seen = seen
        added = serials - self.serials
        self.serials = self.serials | serials
        return added

    def revoked(self, identity: TlsIdentity) -> bool:
        """Is this (verified) client certificate revoked? Looks at the file first."""
        self.refresh()
        return identity.serial in self.serials


# -- the peer's certificate ------------------------------------------------------------------


def uid_uri(uid: str) -> str:
    """The SAN URI that binds ``uid``: ``urn:holdfire:uid:`` + the percent-encoded uid."""
    return UID_URI_PREFIX + quote(uid, safe="-._~:")


def identity_from_peercert(der: bytes) -> TlsIdentity:
    """Name, bound uid, serial and expiry of a client certificate the TLS handshake verified.

    ``der`` is ``ssl_object.getpeercert(binary_form=True)``. This does not verify anything: call
    it only on a certificate the server's context has verified. ``uid`` is None if the
    certificate has no ``urn:holdfire:uid:`` SAN URI, or more than one; the server must then
    treat the client's reports as not its own.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertStoreError(f"not a DER certificate: {exc}") from exc
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else None
    name = cn if isinstance(cn, str) else cert.subject.rfc4514_string()
    return TlsIdentity(
        name=name,
        uid=_bound_uid(cert),
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
    )


def _bound_uid(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uids = {
        unquote(uri.removeprefix(UID_URI_PREFIX))
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(UID_URI_PREFIX)
    }
    if len(uids) != 1:
        return None
    (uid,) = uids
    return uid or None


# -- client contexts -------------------------------------------------------------------------


def client_ssl_context(
    p12_path: Path, password: str, *, cafile: Path | None = None
) -> ssl.SSLContext:
    """A TLS client context presenting the key and certificate in ``p12_path``.

    Trusts ``cafile`` if given, else the CA certificates inside the .p12. Hostnames are checked.
    ``ssl`` loads keys only from files: the key is written, re-encrypted under a random one-time
    passphrase, to a private temporary directory (0700, files 0600) that is removed at once.
    """
    try:
        bundle = pkcs12.load_pkcs12(Path(p12_path).read_bytes(), password.encode())
    except ValueError as exc:
        raise CertStoreError(f"cannot open {p12_path}: wrong password or not a .p12") from exc
    if bundle.key is None or bundle.cert is None:
        raise CertStoreError(f"{p12_path} holds no key and certificate")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is not None:
        ctx.load_verify_locations(cafile=str(cafile))
    else:
        cas = [c.certificate for c in bundle.additional_certs]
        if not cas:
            raise CertStoreError(f"{p12_path} holds no CA certificate; pass cafile")
        ctx.load_verify_locations(cadata="".join(_pem(c).decode() for c in cas))
    passphrase = secrets.token_bytes(32)
    key_pem = bundle.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    tmp = Path(tempfile.mkdtemp(prefix="holdfire-tls-"))
    try:
        os.chmod(tmp, 0o700)
        cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
        _write(cert_file, _pem(bundle.cert.certificate), 0o600, overwrite=False)
        _write(key_file, key_pem, 0o600, overwrite=False)
        ctx.load_cert_chain(str(cert_file), str(key_file), password=passphrase)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ctx


# -- ATAK data package -----------------------------------------------------------------------


def _data_package(
    name: str,
    p12: bytes,
    truststore_name: str,
    truststore: bytes,
    password: str,
    host: str,
    port: int,
) -> bytes:
    """The zip ATAK and iTAK import: MANIFEST/manifest.xml, holdfire.pref, <name>.p12 and
    <name>-truststore.p12, every file at the root of the zip.

    At the root because iTAK reads its files only from there; ATAK does not mind where they
    sit: it files every imported .p12 under its own ``cert/`` folder by its file name, which is
    where the pref points (``cert/<file>``). Hence file names unique per client (a device that
    holds several packages keeps every truststore) and the same ones as on disk.
    """
    client_entry = f"{name}.p12"
    files: dict[str, bytes] = {
        PREF_NAME: _pref(client_entry, truststore_name, password, host, port).encode(),
        client_entry: p12,
        truststore_name: truststore,
    }
    manifest = _manifest(f"holdfire-{name}", list(files))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MANIFEST/manifest.xml", manifest)
        for entry, data in files.items():
            archive.writestr(entry, data)
    return buffer.getvalue()


def _manifest(package_name: str, entries: list[str]) -> str:
    contents = "\n".join(
        f'      <Content ignore="false" zipEntry={quoteattr(e)}/>' for e in entries
    )
    return (
        '<MissionPackageManifest version="2">\n'
        "   <Configuration>\n"
        f'      <Parameter name="uid" value="{uuid.uuid4()}"/>\n'
        f'      <Parameter name="name" value={quoteattr(package_name)}/>\n'
        '      <Parameter name="onReceiveImport" value="true"/>\n'
        '      <Parameter name="onReceiveDelete" value="true"/>\n'
        "   </Configuration>\n"
        "   <Contents>\n"
        f"{contents}\n"
        "   </Contents>\n"
        "</MissionPackageManifest>\n"
    )


def _pref(client_file: str, truststore_file: str, password: str, host: str, port: int) -> str:
    def entry(key: str, java_class: str, value: str) -> str:
        return (
            f'    <entry key="{key}" class="class java.lang.{java_class}">{escape(value)}</entry>\n'
        )

    return (
        "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
        "<preferences>\n"
        '  <preference version="1" name="cot_streams">\n'
        + entry("count", "Integer", "1")
        + entry("description0", "String", "holdfire")
        + entry("enabled0", "Boolean", "true")
        + entry("connectString0", "String", f"{host}:{port}:ssl")
        + "  </preference>\n"
        '  <preference version="1" name="com.atakmap.app_preferences">\n'
        + entry("displayServerConnectionWidget", "Boolean", "true")
        + entry("caLocation", "String", PREF_CERT_DIR + truststore_file)
        + entry("caPassword", "String", password)
        + entry("certificateLocation", "String", PREF_CERT_DIR + client_file)
        + entry("clientPassword", "String", password)
        + "  </preference>\n"
        "</preferences>\n"
    )


# -- certificate building --------------------------------------------------------------------


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type: {key_type!r}")


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_builder(
    ca_cert: x509.Certificate,
    key: PrivateKey,
    common_name: str,
    now: datetime,
    validity: timedelta,
) -> x509.CertificateBuilder:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
        )
    )


def _client_cert(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    key: PrivateKey,
    name: str,
    uid: str,
    now: datetime,
) -> x509.Certificate:
    return (
        _leaf_builder(ca_cert, key, name, now, CLIENT_VALIDITY)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uid_uri(uid))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _p12_encryption(password: str) -> serialization.KeySerializationEncryption:
    # Legacy PBES1 SHA1/3DES + SHA-1 MAC: what Android's BouncyCastle keystore (ATAK) opens.
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(password.encode())
    )


# -- files -----------------------------------------------------------------------------------


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CertStoreError(f"cannot read certificate {path}: {exc}") from exc


def _load_key(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertStoreError(f"cannot read private key {path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertStoreError(f"unsupported key type in {path}: {type(key).__name__}")
    return key


def _write(path: Path, data: bytes, mode: int, *, overwrite: bool) -> None:
    """Write ``data`` atomically with ``mode``; without ``overwrite``, fail if ``path`` exists.

    The file is written and fsynced under a temporary name created with ``mode`` (so a key is
    never readable by others, not even for a moment), then renamed (``overwrite``) or hard-linked
    into place, which fails with :class:`CertStoreError` if the name is taken.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it; never widened beyond `mode`
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError as exc:
                raise CertStoreError(f"{path} already exists; not overwriting it") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# -- validation ------------------------------------------------------------------------------


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid client name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def _check_uid(uid: str) -> None:
    if not uid or len(uid) > 256 or any(ch.isspace() or not ch.isprintable() for ch in uid):
        raise ValueError(f"invalid uid {uid!r}: 1-256 printable characters, no spaces")


def _check_host(host: str) -> None:
    if _HOST_RE.fullmatch(host):
        return
    raise ValueError(
        f"invalid host {host!r}: a DNS name or IPv4 address (ATAK's connect string is "
        "host:port:ssl, so IPv6 literals cannot be used)"
    )


def _check_password(password: str) -> None:
    if password.lower() in KNOWN_DEFAULT_PASSWORDS:
        raise ValueError("refusing a well-known default password; leave it out to generate one")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")


def _check_server_names(server_names: Sequence[str]) -> list[str]:
    if isinstance(server_names, str):
        server_names = [server_names]
    names = [n.strip() for n in server_names if n.strip()]
    if not names:
        raise ValueError("at least one server name is needed")
    for server_name in names:
        try:
            ipaddress.ip_address(server_name)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9*.-]{1,253}", server_name):
                raise ValueError(f"invalid server name {server_name!r}") from None
    return list(dict.fromkeys(names))
