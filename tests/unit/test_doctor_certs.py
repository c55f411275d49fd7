"""`holdfire doctor`'s certificate checks on real certificate files: what ends, what has
ended, and a revocation list this CA did not sign."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from holdfire.adapters.certs import SERVER_VALIDITY, CertStore
from holdfire.commands_doctor import Finding, Status, check_certs

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def by_what(found: list[Finding]) -> dict[str, Finding]:
    return {f.what: f for f in found}


def test_fresh_certificates_are_ok(tmp_path: Path) -> None:
    CertStore(tmp_path / "certs").init(now=NOW)
    found = by_what(check_certs(tmp_path, NOW))
    assert {f.status for f in found.values()} == {Status.OK}
    assert set(found) == {
        "CA certificate",
        "server certificate",
        "device certificates",
        "revocation list",
    }


def test_a_server_certificate_that_ended_fails_and_one_ending_soon_warns(tmp_path: Path) -> None:
    CertStore(tmp_path / "certs").init(now=NOW - SERVER_VALIDITY - timedelta(days=1))
    ended = by_what(check_certs(tmp_path, NOW))["server certificate"]
    assert ended.status is Status.FAIL and ended.detail.startswith("ended ")
    assert "holdfire certs init" in ended.fix
    soon = NOW - SERVER_VALIDITY + timedelta(days=10)
    CertStore(tmp_path / "other" / "certs").init(now=soon)
    ending = by_what(check_certs(tmp_path / "other", NOW))["server certificate"]
    assert ending.status is Status.WARN and "(in 10 days)" in ending.detail
    assert by_what(check_certs(tmp_path / "other", NOW))["CA certificate"].status is Status.OK


def test_a_device_that_cannot_connect_any_more_is_a_warning_naming_it(tmp_path: Path) -> None:
    store = CertStore(tmp_path / "certs")
    store.init(now=NOW - timedelta(days=400))
    store.client("radio-7", "ANDROID-7", now=NOW - timedelta(days=400), host="127.0.0.1")
    device = by_what(check_certs(tmp_path, NOW))["device radio-7"]
    assert device.status is Status.WARN and device.detail.startswith("ended ")
    assert "holdfire certs client radio-7" in device.fix


def test_a_revocation_list_from_another_ca_fails(tmp_path: Path) -> None:
    ours = CertStore(tmp_path / "ours" / "certs")
    ours.init(now=NOW)
    theirs = CertStore(tmp_path / "theirs" / "certs")
    theirs.init(now=NOW)
    theirs.client("lost", "ANDROID-lost", now=NOW, host="127.0.0.1")
    theirs.revoke("lost", now=NOW)
    ours.crl_path.write_bytes(theirs.crl_path.read_bytes())
    crl = by_what(check_certs(tmp_path / "ours", NOW))["revocation list"]
    assert crl.status is Status.FAIL and "not signed by this CA" in crl.detail
    assert by_what(check_certs(tmp_path / "theirs", NOW))["revocation list"] == Finding(
        Status.OK, "revocation list", "signed by this CA, 1 revoked"
    )
