"""Fuzz target: an imported file (JSON, GeoJSON, CSV, TOML) read all the way to domain objects.

The first byte picks the file type; the rest is the file's text (invalid UTF-8 is refused
before parsing, as ``holdfire import`` does). Properties: ``parse_import`` raises only
``ImportFileError``; each report and measure it yields is read by the public codecs or refused
with ``CodecError`` naming a field.
"""

from datetime import UTC, datetime

from harness import fuzz, instrumented, seed_files

with instrumented():
    from holdfire.codecs.imports import ImportFileError, parse_import
    from holdfire.codecs.json import CodecError, measure_from_feature
    from holdfire.codecs.reports import Channel, report_from_input

SUFFIXES = (".json", ".geojson", ".csv", ".toml")
CHANNEL = Channel(source="import", reporter="fuzz", authenticated=False)
NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def test_one(data: bytes) -> None:
    if not data:
        return
    try:
        text = data[1:].decode("utf-8")
    except UnicodeDecodeError:
        return
    name = "file" + SUFFIXES[data[0] % len(SUFFIXES)]
    try:
        batch = parse_import(name, text)
    except ImportFileError:
        return
    for row in batch.reports:
        try:
            report_from_input(row, CHANNEL, NOW)
        except CodecError as exc:
            assert exc.field
    for feature in batch.measures:
        try:
            measure_from_feature(feature, measure_id="m-1")
        except CodecError as exc:
            assert exc.field


def seeds() -> list[bytes]:
    out = []
    for path in ("examples/**/*.json", "examples/**/*.geojson", "examples/**/*.csv"):
        suffix = "." + path.rsplit(".", 1)[1]
        out += [bytes([SUFFIXES.index(suffix)]) + seed for seed in seed_files(path)]
    toml = b'[[units]]\nuid = "u1"\ncallsign = "A"\n[[reports]]\nuid = "u1"\nlat = 51.4\n'
    return [*out, bytes([SUFFIXES.index(".toml")]) + toml + b"lon = 35.6\n"]


if __name__ == "__main__":
    fuzz(test_one, seeds())
