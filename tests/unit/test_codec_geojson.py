"""GET /tracks' encoded Features: the same Feature as the stream's, kept until the track or the
unit changes, aged to the time asked for."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from holdfire.codecs.geojson import TrackFeatures, collection, collection_text, track_feature
from holdfire.domain.identity import Affiliation
from holdfire.domain.tables import Mobility, MobilityClass
from holdfire.domain.tracks import Track
from holdfire.domain.units import Unit
from support.builders import NOW, ago, make_tables, report

TABLES = make_tables()
WHEELED = TABLES.mobility_class(Mobility.WHEELED)


def affiliation_of(_: str) -> Affiliation:
    return Affiliation.FRIEND


def mobility_of(_: str) -> MobilityClass:
    return WHEELED


def test_the_text_is_the_feature_aged_to_the_time_asked() -> None:
    track = Track(uid="btr-1", own=report("btr-1", (51.4, 35.6), observed=ago(30), mobility=None))
    unit = Unit(uid="btr-1", callsign="Ivan 1", affiliation=Affiliation.FRIEND)
    cache = TrackFeatures()
    for at in (NOW, NOW + timedelta(seconds=90), NOW + timedelta(hours=2)):
        text = cache.encoded(track, unit, affiliation_of, mobility_of, at)
        assert json.loads(text) == track_feature(track, unit, Affiliation.FRIEND, WHEELED, at)
    assert len(cache) == 1  # encoded once, aged each time
    assert json.loads(text)["properties"]["state"] == "lost"


def test_a_new_track_or_unit_is_encoded_again_and_a_gone_one_forgotten() -> None:
    first = Track(uid="btr-1", own=report("btr-1", (51.4, 35.6)))
    cache = TrackFeatures()
    cache.encoded(first, None, affiliation_of, mobility_of, NOW)
    assert first.own is not None
    moved = Track(uid="btr-1", own=replace(first.own, lat=51.5))
    text = cache.encoded(moved, None, affiliation_of, mobility_of, NOW)
    assert json.loads(text)["geometry"]["coordinates"][1] == 51.5
    named = Unit(uid="btr-1", callsign="Ivan 1")
    text = cache.encoded(moved, named, affiliation_of, mobility_of, NOW)
    assert json.loads(text)["properties"]["callsign"] == "Ivan 1"
    cache.retain([])
    assert len(cache) == 0


def test_an_encoded_collection_reads_as_the_collection() -> None:
    track = Track(uid="btr-1", own=report("btr-1", (51.4, 35.6)))
    feature = track_feature(track, None, Affiliation.FRIEND, WHEELED, NOW)
    text = collection_text([json.dumps(feature)], next=None, picture_version=7)
    assert json.loads(text) == collection([feature], next=None, picture_version=7)
    assert json.loads(collection_text([])) == collection([])
