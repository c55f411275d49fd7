"""Fuzz target: GeoJSON measures (``measure_from_feature``) and their round trip.

Properties: a JSON document is read as a measure or refused with ``CodecError`` naming a field;
a measure that reads is written by ``measure_to_feature`` as JSON without NaN or infinity, and
reads back equal.
"""

import json

from harness import fuzz, instrumented, seed_files

with instrumented():
    from holdfire.codecs.json import CodecError, measure_from_feature, measure_to_feature


def test_one(data: bytes) -> None:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # not JSON: refused before the codec sees it
        return
    features = document.get("features") if isinstance(document, dict) else None
    for feature in features if isinstance(features, list) else [document]:
        try:
            measure = measure_from_feature(feature)
        except CodecError as exc:
            assert exc.field
            continue
        written = measure_to_feature(measure)
        json.dumps(written, allow_nan=False)
        assert measure_from_feature(written) == measure


def seeds() -> list[bytes]:
    collections = seed_files("examples/**/*.geojson")
    features = [
        json.dumps(feature).encode()
        for collection in collections
        for feature in json.loads(collection)["features"]
    ]
    return [*collections, *features]


if __name__ == "__main__":
    fuzz(test_one, seeds())
