"""`holdfire audit verify`, `export` and `verify-bundle` as processes of their own: exit codes,
what they print, the signing key's file, and bundles changed after export.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from holdfire.adapters.audit_bundle import KEY_FILENAME
from support.process import holdfire
from support.records import audit_events
from support.stores import BACKENDS, Backend, backend

pytestmark = pytest.mark.integration


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLDFIRE_")}
    return subprocess.run(
        [*holdfire(), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def where(db: Backend) -> list[str | Path]:
    return ["--data", db.data_dir] if db.db is None else ["--data", db.data_dir, "--db", db.db]


@pytest.fixture(params=BACKENDS)
async def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as db:
        store = db.store()
        await store.open()
        await store.append(audit_events(10))
        await store.close()
        yield db


def test_verify_says_intact_with_the_count_and_last_hash(filled: Backend) -> None:
    [(last,)] = filled.rows("SELECT hash FROM audit_chain ORDER BY pos DESC LIMIT 1")
    result = run("audit", "verify", *where(filled))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"audit chain intact (10 records, last hash {last})"


def test_verify_expect_holds_the_chain_to_a_hash_kept_from_before(filled: Backend) -> None:
    [(kept,)] = filled.rows("SELECT hash FROM audit_chain WHERE pos = 5")
    result = run("audit", "verify", *where(filled), "--expect", kept.upper())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"and it passes through {kept}"
    # A chain rewritten from before that point (every hash recomputed) no longer holds it.
    other = "ab" * 32
    result = run("audit", "verify", *where(filled), "--expect", other)
    assert result.returncode == 1
    assert f"does not pass through {other}" in result.stdout
    result = run("audit", "verify", *where(filled), "--expect", "not-a-hash")
    assert result.returncode == 2 and "64 hexadecimal digits" in result.stderr


def test_verify_names_the_first_broken_record_and_exits_1(filled: Backend) -> None:
    if filled.db is None:
        filled.execute("DROP TRIGGER events_no_update")
    else:
        filled.execute("DROP TRIGGER events_append_only ON events")
    [(seq,)] = filled.rows("SELECT seq FROM audit_chain WHERE pos = 3")
    filled.execute(
        f"UPDATE events SET body = replace(body, 'VIPER-6', 'VIPER-7') WHERE seq = {seq}"
    )
    result = run("audit", "verify", *where(filled))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout.strip() == (
        f"audit chain broken at record c2 (seq {seq}, position 3): body changed: the record "
        "differs from what was chained"
    )


@pytest.fixture
async def exported(tmp_path: Path) -> tuple[Backend, Path, str]:
    """A SQLite database with 10 audit records and a bundle of all of them."""
    db = Backend("sqlite", tmp_path / "data", None)
    db.data_dir.mkdir()
    store = db.store()
    await store.open()
    await store.append(audit_events(10))
    await store.close()
    out = tmp_path / "case.zip"
    result = run("audit", "export", "--data", db.data_dir, out)
    assert result.returncode == 0, result.stderr
    key = result.stdout.splitlines()[-1].removeprefix("public key ")
    return db, out, key


def test_export_writes_a_bundle_that_verifies_with_its_key(
    exported: tuple[Backend, Path, str],
) -> None:
    db, out, key = exported
    [(last,)] = db.rows("SELECT hash FROM audit_chain ORDER BY pos DESC LIMIT 1")
    with zipfile.ZipFile(out) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        records = bundle.read("records.jsonl").decode().splitlines()
    assert manifest["public_key"] == key and len(key) == 64
    assert (manifest["records"], manifest["last_hash"]) == (10, last)
    assert [json.loads(line)["id"] for line in records][:3] == ["c0", "c1", "c2"]
    for args in (("audit", "verify-bundle", out), ("audit", "verify", "--bundle", out)):
        result = run(*args, "--key", key)
        assert result.returncode == 0, result.stderr
        assert f"bundle intact (10 records, positions 1-10, last hash {last})" in result.stdout


def test_the_signing_key_is_owner_only_and_never_printed(
    exported: tuple[Backend, Path, str],
) -> None:
    db, out, _ = exported
    path = db.data_dir / KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text()
    again = run("audit", "export", "--data", db.data_dir, out.with_name("again.zip"))
    assert again.returncode == 0, again.stderr
    assert path.read_text() == secret  # the same key, not a new one
    body = "".join(secret.splitlines()[1:-1])
    assert body not in again.stdout + again.stderr
    with zipfile.ZipFile(out) as bundle:
        assert all(body.encode() not in bundle.read(name) for name in bundle.namelist())
    path.chmod(0o644)
    refused = run("audit", "export", "--data", db.data_dir, out.with_name("third.zip"))
    assert refused.returncode == 1
    assert "can be read by others" in refused.stderr


def test_a_byte_changed_in_the_bundle_fails_with_a_reason(
    exported: tuple[Backend, Path, str],
) -> None:
    _, out, key = exported
    data = bytearray(out.read_bytes())
    with zipfile.ZipFile(out) as bundle:
        info = bundle.getinfo("records.jsonl")
    data[info.header_offset + 30 + len(info.filename) + 40] ^= 0x01  # inside its data
    out.write_bytes(bytes(data))
    result = run("audit", "verify-bundle", out, "--key", key)
    assert result.returncode == 1
    assert result.stderr.startswith("holdfire: the bundle does not verify: the zip file is damaged")


def rezip(out: Path, change: dict[str, bytes]) -> None:
    """The bundle rebuilt with some members replaced: a valid zip, changed content."""
    with zipfile.ZipFile(out) as bundle:
        members = {name: bundle.read(name) for name in bundle.namelist()}
    members.update(change)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    out.write_bytes(buffer.getvalue())


def test_a_record_changed_in_a_rebuilt_bundle_fails(exported: tuple[Backend, Path, str]) -> None:
    _, out, key = exported
    with zipfile.ZipFile(out) as bundle:
        records = bundle.read("records.jsonl")
    rezip(out, {"records.jsonl": records.replace(b"VIPER-6", b"VIPER-7", 1)})
    result = run("audit", "verify-bundle", out, "--key", key)
    assert result.returncode == 1
    assert "records.jsonl is not the file the manifest signed" in result.stderr


def test_a_changed_manifest_fails_its_signature(exported: tuple[Backend, Path, str]) -> None:
    _, out, key = exported
    with zipfile.ZipFile(out) as bundle:
        manifest = bundle.read("manifest.json")
    rezip(out, {"manifest.json": manifest.replace(b'"records": 10', b'"records": 9')})
    result = run("audit", "verify-bundle", out, "--key", key)
    assert result.returncode == 1
    assert "the signature of manifest.json does not match" in result.stderr


def test_a_bundle_signed_by_another_key_fails_against_the_expected_one(
    exported: tuple[Backend, Path, str], tmp_path: Path
) -> None:
    db, _, key = exported
    other_data = tmp_path / "other"
    other_data.mkdir()
    (other_data / "holdfire.db").write_bytes((db.data_dir / "holdfire.db").read_bytes())
    forged = tmp_path / "forged.zip"
    made = run("audit", "export", "--data", other_data, forged)
    assert made.returncode == 0, made.stderr
    result = run("audit", "verify-bundle", forged, "--key", key)
    assert result.returncode == 1
    assert f"not the expected {key}" in result.stderr
    assert run("audit", "verify-bundle", forged).returncode == 0  # it is a good bundle by itself


def test_export_takes_a_time_range_and_the_excerpt_verifies(
    exported: tuple[Backend, Path, str], tmp_path: Path
) -> None:
    db, _, key = exported
    part = tmp_path / "part.zip"
    result = run("audit", "export", "--data", db.data_dir, "--since", "2026-11-22T07:03:00Z",
                 "--until", "2026-11-22T07:06:00Z", part)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(4 records, positions 4-7" in result.stdout
    checked = run("audit", "verify-bundle", part, "--key", key)
    assert checked.returncode == 0, checked.stderr
    bad = run("audit", "export", "--data", db.data_dir, "--since", "yesterday", part)
    assert bad.returncode == 2
    assert "--since/--until" in bad.stderr


def test_export_refuses_a_broken_chain(exported: tuple[Backend, Path, str]) -> None:
    db, out, _ = exported
    db.execute("DROP TRIGGER audit_chain_no_delete")
    db.execute("DELETE FROM audit_chain WHERE pos = 2")
    result = run("audit", "export", "--data", db.data_dir, out.with_name("broken.zip"))
    assert result.returncode == 1
    assert "not exporting: audit chain broken at record c1" in result.stderr
    assert not out.with_name("broken.zip").exists()
