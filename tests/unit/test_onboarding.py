"""Onboarding: the one-time package link, the QR codes that carry it (read back with a real
decoder) and the certificates about to expire."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from holdfire.adapters.certs import CertStore, CertStoreError
from holdfire.adapters.onboarding import (
    OFFER_TTL,
    expiring,
    expiry_message,
    inventory,
    offer_package,
    take_offer,
)
from support.qr import decode_png, decode_terminal

NOW = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)
BASE = "http://192.168.1.20:8080"


@pytest.fixture
def store(tmp_path: Path) -> CertStore:
    certs = CertStore(tmp_path / "certs")
    certs.init(now=NOW)
    certs.client("alpha", "ANDROID-alpha", now=NOW, host="192.168.1.20", key_type="ec-p256")
    return certs


def secret_of(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".zip")


def test_the_atak_qr_code_imports_the_package_from_its_link(store: CertStore) -> None:
    offer = offer_package(store, "alpha", BASE, now=NOW)
    assert offer.url.startswith(f"{BASE}/api/v1/enroll/") and offer.url.endswith(".zip")
    assert offer.expires_at == NOW + OFFER_TTL
    # What ATAK scans: its import link, the package URL percent-encoded in `url`.
    for decoded in (decode_png(offer.png_path), decode_terminal(offer.terminal())):
        (text,) = decoded
        parts = urlsplit(text)
        assert (parts.scheme, parts.netloc, parts.path) == ("tak", "com.atakmap.app", "/import")
        assert parse_qs(parts.query) == {"url": [offer.url]}
        assert "%3A%2F%2F" in parts.query  # encoded, so the link's own characters survive
    assert offer.png_path == store.clients_dir / "alpha-qr.png"
    assert stat.S_IMODE(offer.png_path.stat().st_mode) == 0o600


def test_the_itak_qr_code_is_the_plain_link(store: CertStore) -> None:
    offer = offer_package(store, "alpha", BASE, now=NOW, for_itak=True)
    assert decode_png(offer.png_path) == [offer.url]


def test_a_link_gives_the_package_once(store: CertStore) -> None:
    offer = offer_package(store, "alpha", BASE, now=NOW)
    package = (store.clients_dir / "alpha.zip").read_bytes()
    assert take_offer(store, secret_of(offer.url), now=NOW) == ("alpha", package)
    assert take_offer(store, secret_of(offer.url), now=NOW) is None
    assert not list((store.clients_dir / "offers").iterdir())


def test_a_link_ends_with_its_deadline_and_when_the_client_is_reissued(store: CertStore) -> None:
    late = offer_package(store, "alpha", BASE, now=NOW)
    assert take_offer(store, secret_of(late.url), now=NOW + OFFER_TTL) is None
    old = offer_package(store, "alpha", BASE, now=NOW)
    store.client("alpha", "ANDROID-alpha", now=NOW, host="192.168.1.20", replace=True)
    assert take_offer(store, secret_of(old.url), now=NOW) is None
    fresh = offer_package(store, "alpha", BASE, now=NOW)
    assert take_offer(store, secret_of(fresh.url), now=NOW + OFFER_TTL - timedelta(seconds=1))


def test_links_only_for_packages_that_exist_and_secrets_that_look_like_ones(
    store: CertStore,
) -> None:
    with pytest.raises(CertStoreError, match="no data package"):
        offer_package(store, "nobody", BASE, now=NOW)
    with pytest.raises(ValueError, match="http"):
        offer_package(store, "alpha", "192.168.1.20:8080", now=NOW)
    offer_package(store, "alpha", BASE, now=NOW)
    for secret in ("", "short", "../../alpha", "x" * 65, "a/b" * 8):
        assert take_offer(store, secret, now=NOW) is None


def test_a_certificate_that_ends_in_ten_days_is_warned_about(store: CertStore) -> None:
    # issued 355 days ago for a year: it ends in 10 days
    store.client(
        "bravo", "ANDROID-bravo", now=NOW - timedelta(days=355), host="h", key_type="ec-p256"
    )
    store.client(
        "charlie", "ANDROID-c", now=NOW - timedelta(days=355), host="h", key_type="ec-p256"
    )
    store.revoke("charlie", now=NOW)  # revoked: no use renewing it
    (soon,) = expiring(store, NOW)
    assert (soon.kind, soon.name, soon.uid, soon.days_left(NOW)) == (
        "client",
        "bravo",
        "ANDROID-bravo",
        10,
    )
    assert expiry_message(soon, NOW) == (
        f"client certificate bravo expires on {soon.not_after:%Y-%m-%d} (in 10 days): "
        "re-issue it: holdfire certs client bravo --replace ..."
    )
    assert [c.state(NOW) for c in inventory(store)] == [
        "ok",  # the CA
        "ok",  # the server
        "ok",  # alpha
        "expires soon",  # bravo
        "revoked",  # charlie
    ]
    # fifteen days ahead nothing is warned about yet; past its end it has expired
    assert not expiring(store, NOW - timedelta(days=5))
    later = NOW + timedelta(days=11)
    assert "expired on" in expiry_message(expiring(store, later)[0], later)


def test_an_empty_store_has_no_inventory(tmp_path: Path) -> None:
    with pytest.raises(CertStoreError, match="certs init"):
        inventory(CertStore(tmp_path / "none"))
