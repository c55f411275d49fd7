"""The picture: own vs other reports, times, identities, registration, the index."""

import random
from datetime import timedelta

import numpy as np

from holdfire.domain.alerts import AlertKind
from holdfire.domain.identity import Affiliation
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit, UnitStatus
from holdfire.engine.spatial import IndexedPosition, TrackIndex
from support.builders import AIM, GEOD, NOW, ago, offset, picture, report


def test_an_older_fix_never_replaces_a_newer_one() -> None:
    pic = picture()
    pic.apply_report(report("u1", AIM, observed=ago(10)))
    old = report("u1", offset(*AIM, 0.0, 900.0), observed=ago(60))
    outcome = pic.apply_report(old)
    assert not outcome.applied and "older" in outcome.detail
    track = pic.track("u1")
    assert track is not None and track.latest.lat == AIM[0]


def test_a_fix_from_the_future_is_kept_at_arrival_time_and_marked() -> None:
    pic = picture()
    future = report("u1", AIM, observed=NOW + timedelta(minutes=10), received=NOW)
    outcome = pic.apply_report(future)
    assert outcome.applied
    track = pic.track("u1")
    assert track is not None
    assert track.latest.observed_at == NOW and track.latest.suspect_time
    # small skew is believed
    skewed = report("u2", AIM, observed=NOW + timedelta(seconds=4), received=NOW)
    pic.apply_report(skewed)
    track2 = pic.track("u2")
    assert track2 is not None and not track2.latest.suspect_time


def test_another_reporter_cannot_move_an_own_position_and_a_conflict_alerts() -> None:
    pic = picture()
    pic.apply_report(report("u1", AIM))
    spoof = report(
        "u1", offset(*AIM, 90.0, 3000.0), reporter="mallory", authenticated=True, source="cot-tls"
    )
    outcome = pic.apply_report(spoof)
    assert outcome.applied
    (alert,) = outcome.alerts
    assert alert.kind is AlertKind.SECURITY and alert.subjects == ("u1",)
    assert "mallory" in alert.detail
    track = pic.track("u1")
    assert track is not None and track.own is not None
    assert track.own.lat == AIM[0] and track.own.lon == AIM[1]
    assert [e.reporter for e in track.extras] == ["mallory"]


def test_a_consistent_witness_raises_no_alert() -> None:
    pic = picture()
    pic.apply_report(report("u1", AIM))
    near = report("u1", offset(*AIM, 90.0, 15.0), reporter="lead", authenticated=False)
    assert pic.apply_report(near).alerts == ()


def test_a_newer_own_fix_drops_older_claims_by_others() -> None:
    pic = picture()
    pic.apply_report(report("u1", AIM, observed=ago(60)))
    pic.apply_report(report("u1", AIM, observed=ago(30), reporter="lead", authenticated=False))
    pic.apply_report(report("u1", offset(*AIM, 0.0, 100.0), observed=ago(5)))
    track = pic.track("u1")
    assert track is not None and track.extras == ()


def test_unknown_uid_registers_with_the_worst_case() -> None:
    pic = picture()
    outcome = pic.apply_report(report("new", AIM, affiliation=None, mobility=None))
    assert outcome.registered is not None
    assert outcome.registered.affiliation is Affiliation.FRIEND
    assert outcome.registered.mobility is Mobility.UNKNOWN
    assert pic.mobility_of("new").mobility is Mobility.UNKNOWN


def test_registry_affiliation_wins_but_a_report_may_add_protection() -> None:
    pic = picture()
    pic.register_unit(Unit("f", "F", affiliation=Affiliation.FRIEND))
    pic.apply_report(report("f", AIM, affiliation=Affiliation.HOSTILE))
    assert pic.affiliation_of("f") is Affiliation.FRIEND
    pic.register_unit(Unit("s", "S", affiliation=Affiliation.SUSPECT))
    pic.apply_report(report("s", AIM, affiliation=Affiliation.FRIEND))
    assert pic.affiliation_of("s") is Affiliation.FRIEND
    pic.register_unit(Unit("n", "N", affiliation=Affiliation.NEUTRAL))
    pic.apply_report(report("n", AIM, affiliation=Affiliation.FRIEND))
    assert pic.affiliation_of("n") is Affiliation.NEUTRAL


def test_registered_mobility_decides_growth() -> None:
    pic = picture()
    pic.register_unit(Unit("w", "W", mobility=Mobility.UNKNOWN))
    pic.apply_report(report("w", AIM, mobility=Mobility.STATIC))
    assert pic.mobility_of("w").mobility is Mobility.UNKNOWN


def test_unlocated_units_are_tracked_incrementally() -> None:
    pic = picture()
    pic.register_unit(Unit("a", "A"))
    pic.register_unit(Unit("h", "H", affiliation=Affiliation.HOSTILE))
    assert [u.uid for u in pic.unlocated()] == ["a"]
    pic.apply_report(report("a", AIM))
    assert pic.unlocated() == []
    pic.register_unit(Unit("a", "A", nation="RUS"))  # re-registering a located unit
    assert pic.unlocated() == []
    assert pic.friendly_nations() == frozenset({"RUS"})


def _brute(entries: list[IndexedPosition], lat: float, lon: float, reach: float, ts: float) -> set:
    lats = np.array([e.lat for e in entries])
    lons = np.array([e.lon for e in entries])
    _, _, d = GEOD.inv(np.full(len(entries), lon), np.full(len(entries), lat), lons, lats)
    return {
        (e.uid, e.key) for e, dist in zip(entries, d, strict=True) if dist - e.radius_at(ts) < reach
    }


def _row(e: IndexedPosition) -> tuple[float, ...]:
    return (e.lat, e.lon, e.base_m, e.v_mps, e.observed_ts)


def test_track_index_never_misses_a_position_the_full_scan_finds() -> None:
    rng = random.Random(7)
    index = TrackIndex()
    entries = []
    t0 = NOW.timestamp()
    for i in range(3000):
        lat, lon = offset(*AIM, rng.uniform(0, 360), rng.uniform(0, 150_000))
        entry = IndexedPosition(
            uid=f"u{i}",
            key="k",
            lat=lat,
            lon=lon,
            base_m=rng.uniform(0, 300),
            v_mps=rng.choice([0.0, 2.2, 18.0, 27.8]),
            observed_ts=t0 - rng.uniform(0, 7200),
        )
        entries.append(entry)
        index.put(entry.uid, [entry], now_ts=t0)
    for step in range(60):
        ts = t0 + step * 120.0  # time moves on: positions are promoted to wider levels
        lat, lon = offset(*AIM, rng.uniform(0, 360), rng.uniform(0, 100_000))
        reach = rng.uniform(100, 2000)
        got = index.near(lat, lon, reach, ts)
        found = {(got.entry(i).uid, got.entry(i).key) for i in range(len(got))}
        assert all(tuple(got.columns[i]) == _row(got.entry(i)) for i in range(len(got)))
        assert _brute(entries, lat, lon, reach, ts) <= found


def test_track_index_keeps_positions_just_within_reach_at_every_latitude() -> None:
    # The index drops positions by a bound on the sphere; where the ellipsoid is flattest
    # (north-south at the equator) a position 0.5 m inside reach must still come back.
    t0 = NOW.timestamp()
    for lat in range(-88, 89, 8):
        for azimuth in (0.0, 45.0, 90.0, 180.0):
            for reach in (50.0, 5_000.0, 200_000.0):
                index = TrackIndex()
                lon2, lat2, _ = GEOD.fwd(20.0, lat, azimuth, reach + 30.0 - 0.5)
                entry = IndexedPosition("u", "k", lat2, lon2, 30.0, 0.0, t0)
                index.put("u", [entry], now_ts=t0)
                assert len(index.near(lat, 20.0, reach, t0)) == 1, (lat, azimuth, reach)
                assert len(index.near(lat, 20.0, 0.95 * reach - 60.0, t0)) == 0


def test_index_follows_replacements_and_removals() -> None:
    pic = picture()
    pic.apply_report(report("u1", AIM))
    pic.apply_report(report("u1", offset(*AIM, 0.0, 50_000.0), observed=ago(-1), received=NOW))
    moved_to = offset(*AIM, 0.0, 50_000.0)
    assert len(pic.positions_near(*AIM, 500.0, NOW)) == 0
    near = pic.positions_near(*moved_to, 500.0, NOW)
    assert [near.entry(i).uid for i in range(len(near))] == ["u1"]
    pic.register_unit(Unit("u1", "U1", status=UnitStatus.RETIRED))
    assert len(pic.positions_near(*moved_to, 500.0, NOW)) == 0


def test_report_validation_refuses_bad_numbers() -> None:
    import math

    import pytest

    from holdfire.domain.errors import DomainError

    for bad in ({"lat": 91.0}, {"lon": math.nan}, {"ce_m": -1.0}, {"ce_m": math.inf}):
        fields = {"lat": AIM[0], "lon": AIM[1], "ce_m": 5.0} | bad
        with pytest.raises(DomainError):
            PositionReport(
                uid="u",
                observed_at=NOW,
                received_at=NOW,
                source="t",
                reporter="u",
                **fields,  # type: ignore[arg-type]
            )


def test_numbers_too_large_for_a_float_are_refused_not_crashing() -> None:
    import pytest

    from holdfire.domain.errors import DomainError
    from holdfire.domain.numbers import optional_finite, require_distance, require_lat_lon

    with pytest.raises(DomainError):
        require_distance("ce_m", 10**400)
    with pytest.raises(DomainError):
        require_lat_lon(10**400, 0.0)
    assert optional_finite(10**400) is None


def test_track_index_reuses_slots_after_removal() -> None:
    index = TrackIndex()
    t0 = NOW.timestamp()
    for round_ in range(3):
        for i in range(50):
            entry = IndexedPosition(f"u{i}", "k", AIM[0], AIM[1] + i * 1e-3, 10.0, 1.0, t0)
            index.put(entry.uid, [entry], now_ts=t0)
        assert len(index) == 50
        for i in range(0, 50, 2):
            index.remove(f"u{i}")
        got = index.near(*AIM, 10_000.0, t0)
        assert sorted(got.entry(i).uid for i in range(len(got))) == sorted(
            f"u{i}" for i in range(1, 50, 2)
        ), round_


def test_a_marker_for_an_unregistered_uid_is_not_a_unit_and_can_be_deleted() -> None:
    from dataclasses import replace as with_

    pic = picture()
    placed = with_(
        report("mk-1", AIM, reporter="lead", authenticated=False, affiliation=Affiliation.HOSTILE),
        marker=True,
    )
    outcome = pic.apply_report(placed)
    assert outcome.applied and outcome.registered is None
    assert pic.unit("mk-1") is None and pic.is_marker("mk-1")
    assert pic.affiliation_of("mk-1") is Affiliation.HOSTILE  # its only claim
    assert pic.remove_marker("mk-1")
    assert pic.track("mk-1") is None
    assert len(pic.positions_near(*AIM, 500.0, NOW)) == 0


def test_registered_units_never_leave_as_markers() -> None:
    from dataclasses import replace as with_

    pic = picture()
    pic.register_unit(Unit("u1", "U1"))
    pic.apply_report(with_(report("u1", AIM, reporter="lead", authenticated=False), marker=True))
    assert not pic.is_marker("u1")
    assert not pic.remove_marker("u1")
    assert pic.track("u1") is not None


def test_markers_expire_lost_time_after_their_stale_time() -> None:
    from dataclasses import replace as with_

    pic = picture()
    stale_at = NOW + timedelta(seconds=60)
    placed = with_(report("mk", AIM, reporter="lead", authenticated=False), marker=True)
    pic.apply_report(with_(placed, stale_at=stale_at))
    lost = pic.mobility_of("mk").lost_after_s
    assert pic.expired_markers(stale_at + timedelta(seconds=lost - 1)) == []
    assert pic.expired_markers(stale_at + timedelta(seconds=lost + 1)) == ["mk"]


def test_re_registering_a_unit_moves_it_between_equipment_families() -> None:
    pic = picture()
    pic.register_unit(Unit("b1", "GUNS", nation="RUS", equipment=("2s1",)))
    assert [u.uid for u in pic.fielding("2s1")] == ["b1"]
    pic.register_unit(Unit("b1", "GUNS", nation="RUS", equipment=("tor-m2",)))
    assert pic.fielding("2s1") == []
    assert [u.uid for u in pic.fielding("tor")] == ["b1"]
    assert pic.nearest_fielding("2s1", *AIM) is None
