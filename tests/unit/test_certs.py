"""The certificate store: CA and server certificate, client bundles, ATAK data packages.

Keys: the CA and server are EC P-256 (as in production); client bundles use EC P-256 here to
keep the suite fast, except one test that checks the production default, RSA 2048.
"""

from __future__ import annotations

import io
import stat
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from holdfire.adapters.certs import (
    CertStore,
    CertStoreError,
    ClientBundle,
    Revocations,
    client_ssl_context,
    identity_from_peercert,
    uid_uri,
)

NOW = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)
HOST = "tak.example.org"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def store(tmp_path: Path) -> CertStore:
    certs = CertStore(tmp_path / "data" / "certs")
    assert certs.init(now=NOW).created
    return certs


def issue(
    store: CertStore,
    name: str = "alpha",
    uid: str = "ANDROID-0a1b2c",
    *,
    password: str | None = None,
    replace: bool = False,
) -> ClientBundle:
    return store.client(
        name, uid, now=NOW, host=HOST, key_type="ec-p256", password=password, replace=replace
    )


# -- init --------------------------------------------------------------------------------------


def test_init_creates_a_ca_with_ca_extensions(store: CertStore) -> None:
    ca = load_cert(store.ca_cert_path)
    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(cn, str)
    assert cn.startswith("holdfire CA ")
    assert len(cn) > len("holdfire CA ")
    assert ca.issuer == ca.subject
    ca.verify_directly_issued_by(ca)  # self-signed
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    assert bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign
    assert ku.crl_sign
    assert not ku.digital_signature
    assert ca.not_valid_after_utc - NOW >= timedelta(days=3650)
    assert ca.not_valid_before_utc <= NOW
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)


def test_init_creates_a_server_certificate_signed_by_the_ca(store: CertStore) -> None:
    ca = load_cert(store.ca_cert_path)
    server = load_cert(store.server_cert_path)
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    bc = server.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not bc.ca
    assert server.not_valid_after_utc == NOW + timedelta(days=730)
    assert store.server_names() == ["localhost", "127.0.0.1"]


def test_init_file_modes(store: CertStore) -> None:
    assert mode(store.directory) == 0o700
    assert mode(store.clients_dir) == 0o700
    assert mode(store.ca_key_path) == 0o600
    assert mode(store.server_key_path) == 0o600
    for key_path in (store.ca_key_path, store.server_key_path):
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"


def test_init_twice_keeps_the_ca_and_server(store: CertStore) -> None:
    before = {p: p.read_bytes() for p in store.directory.iterdir() if p.is_file()}
    again = store.init(now=NOW + timedelta(days=1))
    assert not again.created
    assert not again.ca_created
    assert not again.server_created
    assert {p: p.read_bytes() for p in store.directory.iterdir() if p.is_file()} == before


def test_init_refuses_half_a_ca(store: CertStore) -> None:
    ca_pem = store.ca_cert_path.read_bytes()
    store.ca_key_path.unlink()
    with pytest.raises(CertStoreError, match="incomplete CA"):
        store.init(now=NOW)
    assert store.ca_cert_path.read_bytes() == ca_pem
    assert not store.ca_key_path.exists()


def test_init_refuses_a_ca_key_that_does_not_match(store: CertStore, tmp_path: Path) -> None:
    other = CertStore(tmp_path / "other")
    other.init(now=NOW)
    store.ca_key_path.write_bytes(other.ca_key_path.read_bytes())
    with pytest.raises(CertStoreError, match="does not match"):
        store.init(now=NOW)


def test_renew_server_keeps_the_ca(store: CertStore) -> None:
    ca_pem = store.ca_cert_path.read_bytes()
    old_server = store.server_cert_path.read_bytes()
    result = store.init(["holdfire.example", "10.0.0.5"], now=NOW, renew_server=True)
    assert result.server_created
    assert not result.ca_created
    assert store.ca_cert_path.read_bytes() == ca_pem
    assert store.server_cert_path.read_bytes() != old_server
    assert store.server_names() == ["holdfire.example", "10.0.0.5"]
    load_cert(store.server_cert_path).verify_directly_issued_by(load_cert(store.ca_cert_path))
    assert mode(store.server_key_path) == 0o600


def test_init_reissues_a_missing_server_certificate(store: CertStore) -> None:
    ca_pem = store.ca_cert_path.read_bytes()
    store.server_cert_path.unlink()
    result = store.init(now=NOW)
    assert result.server_created
    assert not result.ca_created
    assert store.ca_cert_path.read_bytes() == ca_pem


def test_init_wants_an_aware_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone"):
        CertStore(tmp_path / "certs").init(now=datetime(2026, 1, 1))


def test_server_context_needs_init(tmp_path: Path) -> None:
    with pytest.raises(CertStoreError, match="certs init"):
        CertStore(tmp_path / "certs").server_ssl_context()


# -- client bundles ----------------------------------------------------------------------------


def test_client_p12_opens_with_the_returned_password_only(store: CertStore) -> None:
    bundle = issue(store)
    data = bundle.p12_path.read_bytes()
    loaded = pkcs12.load_pkcs12(data, bundle.password.encode())
    assert loaded.key is not None
    assert loaded.cert is not None
    for wrong in (b"atakatak", b"", None):
        with pytest.raises(ValueError):  # noqa: PT011 - cryptography's wrong-password error
            pkcs12.load_pkcs12(data, wrong)


def test_generated_password_is_random_and_not_a_default(store: CertStore) -> None:
    one = issue(store, "alpha", "uid-1")
    two = issue(store, "bravo", "uid-2")
    assert one.password != two.password
    for bundle in (one, two):
        assert len(bundle.password) >= 16
        assert bundle.password.lower() not in {"atakatak", "supersecret", "password"}


@pytest.mark.parametrize("password", ["atakatak", "ATAKATAK", "supersecret", "short"])
def test_weak_given_passwords_are_refused(store: CertStore, password: str) -> None:
    with pytest.raises(ValueError, match="password"):
        issue(store, password=password)


def test_a_given_password_is_used(store: CertStore) -> None:
    bundle = issue(store, password="correct-horse-battery")
    assert bundle.password == "correct-horse-battery"
    pkcs12.load_pkcs12(bundle.p12_path.read_bytes(), b"correct-horse-battery")


def test_client_certificate_chains_to_the_ca_and_binds_the_uid(store: CertStore) -> None:
    bundle = issue(store, "alpha", "ANDROID-0a1b2c")
    loaded = pkcs12.load_pkcs12(bundle.p12_path.read_bytes(), bundle.password.encode())
    assert loaded.cert is not None
    cert = loaded.cert.certificate
    ca = load_cert(store.ca_cert_path)
    # The signature, checked by hand with the CA's public key.
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    ca_key.verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )
    assert cert.issuer == ca.subject
    # The CA travels inside the .p12.
    assert [c.certificate for c in loaded.additional_certs] == [ca]
    # The uid, in a SAN URI.
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:holdfire:uid:ANDROID-0a1b2c"
    ]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alpha"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc == NOW + timedelta(days=365)
    assert bundle.serial == cert.serial_number
    # The public copy kept for revocation.
    assert load_cert(store.clients_dir / "alpha.pem") == cert


def test_client_truststore_holds_the_ca(store: CertStore) -> None:
    bundle = issue(store)
    trust = pkcs12.load_pkcs12(bundle.truststore_path.read_bytes(), bundle.password.encode())
    assert trust.key is None
    assert [c.certificate for c in trust.additional_certs] == [load_cert(store.ca_cert_path)]
    with pytest.raises(ValueError):  # noqa: PT011
        pkcs12.load_pkcs12(bundle.truststore_path.read_bytes(), b"atakatak")


def test_client_files_and_modes(store: CertStore) -> None:
    bundle = issue(store, "alpha")
    assert bundle.p12_path == store.clients_dir / "alpha.p12"
    assert bundle.truststore_path == store.clients_dir / "alpha-truststore.p12"
    assert bundle.package_path == store.clients_dir / "alpha.zip"
    for path in (bundle.p12_path, bundle.truststore_path, bundle.package_path):
        assert mode(path) == 0o600
    # The password is in no file of the store except the data package.
    secret = bundle.password.encode()
    others = [p for p in store.directory.rglob("*") if p.is_file() and p != bundle.package_path]
    assert [p.name for p in others if secret in p.read_bytes()] == []
    with zipfile.ZipFile(bundle.package_path) as archive:
        assert secret in archive.read("holdfire.pref")


def test_default_client_key_is_rsa_2048(store: CertStore) -> None:
    bundle = store.client("charlie", "uid-c", now=NOW, host=HOST)
    loaded = pkcs12.load_pkcs12(bundle.p12_path.read_bytes(), bundle.password.encode())
    assert isinstance(loaded.key, rsa.RSAPrivateKey)
    assert loaded.key.key_size == 2048


def test_client_needs_a_ca(tmp_path: Path) -> None:
    with pytest.raises(CertStoreError, match="certs init"):
        CertStore(tmp_path / "certs").client("alpha", "uid", now=NOW, host=HOST)


def test_client_name_is_not_reused_unless_replaced(store: CertStore) -> None:
    first = issue(store, "alpha")
    with pytest.raises(CertStoreError, match="already exists"):
        issue(store, "alpha")
    assert pkcs12.load_pkcs12(first.p12_path.read_bytes(), first.password.encode())
    second = issue(store, "alpha", replace=True)
    assert second.serial != first.serial
    pkcs12.load_pkcs12(second.p12_path.read_bytes(), second.password.encode())


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_client_names_that_are_not_safe_file_names_are_refused(store: CertStore, name: str) -> None:
    with pytest.raises(ValueError, match="client name"):
        issue(store, name)


@pytest.mark.parametrize("uid", ["", "with space", "tab\there", "x" * 257])
def test_bad_uids_are_refused(store: CertStore, uid: str) -> None:
    with pytest.raises(ValueError, match="uid"):
        issue(store, uid=uid)


@pytest.mark.parametrize("host", ["", "::1", "host:8089", "a b"])
def test_bad_hosts_are_refused(store: CertStore, host: str) -> None:
    with pytest.raises(ValueError, match="host"):
        store.client("alpha", "uid", now=NOW, host=host, key_type="ec-p256")


# -- identity ----------------------------------------------------------------------------------


def der_of(p12_path: Path, password: str) -> bytes:
    loaded = pkcs12.load_pkcs12(p12_path.read_bytes(), password.encode())
    assert loaded.cert is not None
    return loaded.cert.certificate.public_bytes(serialization.Encoding.DER)


def test_identity_from_peercert(store: CertStore) -> None:
    bundle = issue(store, "alpha", "ANDROID-0a1b2c")
    identity = identity_from_peercert(der_of(bundle.p12_path, bundle.password))
    assert identity.name == "alpha"
    assert identity.uid == "ANDROID-0a1b2c"
    assert identity.serial == bundle.serial
    assert identity.not_after == NOW + timedelta(days=365)


@pytest.mark.parametrize("uid", ["a1b2c3d4-0000-4000-8000-000000000001", "odd/uid?#%x", "Ünïcode"])
def test_uids_round_trip_through_the_uri(store: CertStore, uid: str) -> None:
    bundle = issue(store, "alpha", uid)
    assert identity_from_peercert(der_of(bundle.p12_path, bundle.password)).uid == uid
    assert uid_uri(uid).startswith("urn:holdfire:uid:")


def test_a_certificate_without_a_uid_binds_none(store: CertStore) -> None:
    server_der = load_cert(store.server_cert_path).public_bytes(serialization.Encoding.DER)
    identity = identity_from_peercert(server_der)
    assert identity.name == "localhost"
    assert identity.uid is None


def test_a_certificate_with_two_uids_binds_none() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twofaced")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(uid_uri("one")),
                    x509.UniformResourceIdentifier(uid_uri("two")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    identity = identity_from_peercert(cert.public_bytes(serialization.Encoding.DER))
    assert identity.name == "twofaced"
    assert identity.uid is None


def test_identity_from_garbage_is_an_error() -> None:
    with pytest.raises(CertStoreError):
        identity_from_peercert(b"not a certificate")


# -- ATAK data package -------------------------------------------------------------------------


def read_package(bundle: ClientBundle) -> tuple[dict[str, bytes], ET.Element, ET.Element]:
    with zipfile.ZipFile(io.BytesIO(bundle.package_path.read_bytes())) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    manifest = ET.fromstring(files["MANIFEST/manifest.xml"])
    prefs = ET.fromstring(files["holdfire.pref"])
    return files, manifest, prefs


def pref(prefs: ET.Element, group: str, key: str) -> str:
    for preference in prefs.iter("preference"):
        if preference.get("name") == group:
            for entry in preference.iter("entry"):
                if entry.get("key") == key:
                    return entry.text or ""
    raise AssertionError(f"no {group}/{key} in the pref")


def test_data_package_manifest_lists_every_file(store: CertStore) -> None:
    bundle = issue(store, "alpha")
    files, manifest, _ = read_package(bundle)
    assert manifest.tag == "MissionPackageManifest"
    assert manifest.get("version") == "2"
    params = {p.get("name"): p.get("value") for p in manifest.iter("Parameter")}
    uuid.UUID(str(params["uid"]))
    assert params["name"]
    listed = [c.get("zipEntry", "") for c in manifest.iter("Content")]
    assert sorted(listed) == sorted(n for n in files if n != "MANIFEST/manifest.xml")
    assert all(c.get("ignore") == "false" for c in manifest.iter("Content"))
    assert "holdfire.pref" in listed


def test_data_package_pref_connects_and_points_at_its_certificates(store: CertStore) -> None:
    bundle = issue(store, "alpha")
    files, _, prefs = read_package(bundle)
    assert prefs.tag == "preferences"
    assert pref(prefs, "cot_streams", "count") == "1"
    assert pref(prefs, "cot_streams", "enabled0") == "true"
    assert pref(prefs, "cot_streams", "description0") == "holdfire"
    assert pref(prefs, "cot_streams", "connectString0") == f"{HOST}:8089:ssl"
    app = "com.atakmap.app_preferences"
    cert_location = pref(prefs, app, "certificateLocation")
    ca_location = pref(prefs, app, "caLocation")
    # ATAK files imported .p12s under cert/ by their names; iTAK reads them at the zip's root.
    assert cert_location == "cert/alpha.p12"
    assert ca_location == "cert/alpha-truststore.p12"
    assert sorted(files) == [
        "MANIFEST/manifest.xml", "alpha-truststore.p12", "alpha.p12", "holdfire.pref",
    ]  # fmt: skip
    assert pref(prefs, app, "clientPassword") == bundle.password
    assert pref(prefs, app, "caPassword") == bundle.password
    # The zipped files are the ones written beside it, and open with the password.
    assert files["alpha.p12"] == bundle.p12_path.read_bytes()
    assert files["alpha-truststore.p12"] == bundle.truststore_path.read_bytes()
    pkcs12.load_pkcs12(files["alpha.p12"], bundle.password.encode())
    # Java's pref entries carry their class.
    for entry in prefs.iter("entry"):
        assert (entry.get("class") or "").startswith("class java.lang.")


def test_data_package_port_is_a_parameter(store: CertStore) -> None:
    bundle = store.client("alpha", "uid", now=NOW, host="10.1.2.3", port=8443, key_type="ec-p256")
    _, _, prefs = read_package(bundle)
    assert pref(prefs, "cot_streams", "connectString0") == "10.1.2.3:8443:ssl"


# -- client context ----------------------------------------------------------------------------


def test_client_context_loads_and_cleans_up(
    store: CertStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = issue(store)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ctx = client_ssl_context(bundle.p12_path, bundle.password)
    assert ctx.check_hostname
    assert list(scratch.iterdir()) == []
    store.client_ssl_context(bundle.p12_path, bundle.password)
    assert list(scratch.iterdir()) == []
    with pytest.raises(CertStoreError, match="wrong password"):
        client_ssl_context(bundle.p12_path, "atakatak")
    assert list(scratch.iterdir()) == []


# -- revocation ------------------------------------------------------------------------------


def test_revoke_lists_the_serial_in_a_crl_signed_by_the_ca(store: CertStore) -> None:
    alpha = store.client("alpha", "ANDROID-a", now=NOW, host=HOST, key_type="ec-p256")
    bravo = store.client("bravo", "ANDROID-b", now=NOW, host=HOST, key_type="ec-p256")
    assert store.revoked_serials() == frozenset()
    first = store.revoke("alpha", now=NOW)
    assert (first.serial, first.already) == (alpha.serial, False)
    store.revoke("bravo", now=NOW + timedelta(minutes=1))
    crl = x509.load_pem_x509_crl(store.crl_path.read_bytes())
    ca_key = load_cert(store.ca_cert_path).public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(ca_key)
    assert crl.issuer == load_cert(store.ca_cert_path).subject
    assert {e.serial_number for e in crl} == {alpha.serial, bravo.serial}
    assert store.revoked_serials() == {alpha.serial, bravo.serial}
    assert mode(store.crl_path) == 0o644


def test_revoke_is_idempotent_and_needs_a_known_client(store: CertStore) -> None:
    store.client("alpha", "ANDROID-a", now=NOW, host=HOST, key_type="ec-p256")
    store.revoke("alpha", now=NOW)
    assert store.revoke("alpha", now=NOW).already
    assert len(store.revoked_serials()) == 1
    with pytest.raises(CertStoreError, match="no client"):
        store.revoke("nobody", now=NOW)


def test_a_crl_of_another_ca_is_refused(store: CertStore, tmp_path: Path) -> None:
    other = CertStore(tmp_path / "other")
    other.init(now=NOW)
    other.client("alpha", "ANDROID-a", now=NOW, host=HOST, key_type="ec-p256")
    other.revoke("alpha", now=NOW)
    store.crl_path.write_bytes(other.crl_path.read_bytes())
    with pytest.raises(CertStoreError, match="not signed by this CA"):
        store.revoked_serials()
    with pytest.raises(CertStoreError):
        Revocations(store)  # at start: the server does not start on it


def test_revocations_follow_the_file_and_never_forget(store: CertStore) -> None:
    alpha = store.client("alpha", "ANDROID-a", now=NOW, host=HOST, key_type="ec-p256")
    watch = Revocations(store)
    assert watch.refresh() == frozenset()
    store.revoke("alpha", now=NOW)
    assert watch.refresh() == {alpha.serial}
    assert watch.refresh() == frozenset()  # unchanged file: nothing new
    store.crl_path.write_bytes(b"garbage")  # a broken file un-revokes no one
    assert watch.refresh() == frozenset()
    assert watch.serials == {alpha.serial}


def test_revoke_also_revokes_the_certificates_a_replacement_left_valid(store: CertStore) -> None:
    first = issue(store, "alpha")
    second = issue(store, "alpha", replace=True)
    issue(store, "bravo")
    store.revoke("alpha", now=NOW)
    assert store.revoked_serials() == {first.serial, second.serial}
