"""CotEvent -> PositionReport (holdfire.codecs.cot_reports), design.md §3."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from holdfire.codecs.cot_reports import (
    affiliation_from_cot_type,
    ce95_from_cot,
    mobility_from_cot_type,
    report_from_cot,
)
from holdfire.codecs.cot_xml import CotEvent, parse_event
from holdfire.domain.identity import Affiliation
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility

RECEIVED = datetime(2026, 11, 22, 7, 0, 30, tzinfo=UTC)
OBSERVED = datetime(2026, 11, 22, 7, 0, 0, 250000, tzinfo=UTC)


def sa(
    cot_type: str = "a-f-G-U-C",
    ce: str = "10",
    hae: str = "12.5",
    times: str = 'time="2026-11-22T07:00:00.250Z" stale="2026-11-22T07:01:00.250Z"',
    track: str = '<track course="271.5" speed="1.4"/>',
) -> CotEvent:
    return parse_event(
        f'<event version="2.0" uid="ANDROID-1" type="{cot_type}" how="m-g" {times}>'
        f'<point lat="51.4" lon="35.6" hae="{hae}" ce="{ce}" le="9999999.0"/>'
        f'<detail><contact callsign="ALPHA-1" endpoint="*:-1:stcp"/>{track}'
        "</detail></event>".encode()
    )


def read(event: CotEvent, authenticated: bool = True) -> PositionReport:
    report = report_from_cot(
        event,
        received_at=RECEIVED,
        source="cot-tls",
        reporter="ANDROID-1",
        authenticated=authenticated,
    )
    assert report is not None
    return report


def test_an_atak_sa_becomes_a_report() -> None:
    report = read(sa())
    assert (report.uid, report.lat, report.lon) == ("ANDROID-1", 51.4, 35.6)
    assert report.observed_at == OBSERVED and report.received_at == RECEIVED
    assert not report.time_assumed and not report.suspect_time
    assert report.stale_at == OBSERVED + timedelta(minutes=1)
    assert report.ce_m == pytest.approx(24.5)
    assert report.hae_m == 12.5
    assert report.callsign == "ALPHA-1"
    assert (report.course_deg, report.speed_mps) == (271.5, 1.4)
    assert report.affiliation is Affiliation.FRIEND
    assert report.mobility is Mobility.UNKNOWN  # a-f-G-U-C says nothing about how it moves
    assert (report.source, report.reporter, report.authenticated) == ("cot-tls", "ANDROID-1", True)
    assert report.own
    assert not read(sa(), authenticated=False).own


@pytest.mark.parametrize(
    ("ce", "expected"),
    [("10", 24.5), ("1", 2.45), ("9999999", None), ("999999", None), ("999998", 999998 * 2.45),
     ("abc", None), ("-5", None), ("0", None), ("NaN", None), ("", None)],
)  # fmt: skip
def test_ce_is_one_sigma_and_unknown_stays_unknown(ce: str, expected: float | None) -> None:
    report = read(sa(ce=ce))
    assert report.ce_m == pytest.approx(expected)
    assert report.ce_m is None or expected is not None


def test_ce95_helper() -> None:
    assert ce95_from_cot(None) is None
    assert ce95_from_cot(4.0) == pytest.approx(9.8)


@pytest.mark.parametrize(("hae", "expected"), [("12.5", 12.5), ("-30", -30.0), ("9999999.0", None),
                                               ("999999", None), ("x", None)])  # fmt: skip
def test_hae(hae: str, expected: float | None) -> None:
    assert read(sa(hae=hae)).hae_m == expected


@pytest.mark.parametrize(
    ("cot_type", "expected"),
    [("a-f-G-U-C", Affiliation.FRIEND), ("a-h-G-E-V-A-T", Affiliation.HOSTILE),
     ("a-u-G", Affiliation.UNKNOWN), ("a-x-G", Affiliation.UNKNOWN), ("a-o-G", Affiliation.UNKNOWN),
     ("a-n-G", Affiliation.NEUTRAL), ("a-a-A", Affiliation.ASSUMED_FRIEND),
     ("a-s-G", Affiliation.SUSPECT), ("a-p-G", Affiliation.PENDING),
     ("a-j-G", Affiliation.SUSPECT), ("a-k-G", Affiliation.HOSTILE),
     ("a-.-G", Affiliation.UNKNOWN), ("a-F-G", Affiliation.UNKNOWN),
     ("a-zz-G", Affiliation.UNKNOWN),
     ("a--G", Affiliation.UNKNOWN), ("a", Affiliation.UNKNOWN), ("a-", Affiliation.UNKNOWN),
     ("a-h;x", Affiliation.HOSTILE)],
)  # fmt: skip
def test_affiliation_from_the_type(cot_type: str, expected: Affiliation) -> None:
    assert affiliation_from_cot_type(cot_type) is expected


def test_affiliation_reaches_the_report() -> None:
    assert read(sa(cot_type="a-h-G-U-C")).affiliation is Affiliation.HOSTILE
    assert read(sa(cot_type="a-garbage")).affiliation is Affiliation.UNKNOWN


@pytest.mark.parametrize(
    ("cot_type", "expected"),
    [("a-f-A", Mobility.AIR), ("a-h-A-M-F-Q", Mobility.AIR),
     ("a-f-G-U-C-I", Mobility.DISMOUNTED), ("a-f-G-U-C-I-L", Mobility.DISMOUNTED),
     ("a-f-G-U-C-I-M", Mobility.WHEELED), ("a-f-G-U-C-I-Z", Mobility.WHEELED),
     ("a-f-G-U-C-A", Mobility.TRACKED), ("a-f-G-U-C-A-T", Mobility.TRACKED),
     ("a-f-G-U-C-A-W", Mobility.WHEELED), ("a-f-G-U-C-R", Mobility.WHEELED),
     ("a-h-G-E-V-A-T", Mobility.TRACKED), ("a-h-G-E-V-A-A", Mobility.WHEELED),
     ("a-h-G-E-V", Mobility.WHEELED), ("a-f-G-I-B", Mobility.STATIC), ("a-n-G-I", Mobility.STATIC),
     ("a-f-G-U-C", Mobility.UNKNOWN), ("a-f-G", Mobility.UNKNOWN),
     ("a-f-G-U-C-F", Mobility.UNKNOWN),
     ("a-f-S-C", Mobility.UNKNOWN), ("a-f-U", Mobility.UNKNOWN), ("a-f", Mobility.UNKNOWN),
     ("a-f-g-u-c-i", Mobility.UNKNOWN), ("b-m-p-s-m", Mobility.UNKNOWN),
     ("a-f-G-U-C-I;extra", Mobility.DISMOUNTED)],
)  # fmt: skip
def test_mobility_from_the_type(cot_type: str, expected: Mobility) -> None:
    assert mobility_from_cot_type(cot_type) is expected


def test_a_missing_time_is_the_arrival_time_marked_assumed() -> None:
    report = read(sa(times=""))
    assert report.observed_at == RECEIVED and report.time_assumed
    assert report.stale_at is None
    garbled = read(sa(times='time="soon"'))
    assert garbled.observed_at == RECEIVED and garbled.time_assumed


def test_a_future_time_is_kept_for_the_domain_to_settle() -> None:
    later = 'time="2026-11-22T08:00:00Z"'
    report = read(sa(times=later))
    assert report.observed_at == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert not report.suspect_time  # settle_times applies the rule later


def test_track_values_out_of_range_are_unknown() -> None:
    report = read(sa(track='<track course="400" speed="-2"/>'))
    assert (report.course_deg, report.speed_mps) == (None, None)
    assert read(sa(track="")).course_deg is None


def test_events_that_are_not_positions_give_none() -> None:
    untyped = dataclasses.replace(sa(), type="")  # the parser refuses it; this holds anyway
    for event in (*(sa(cot_type=t) for t in ("b-t-f", "t-x-c-t", "u-d-c-c", "b-a-o-tbl")), untyped):
        assert report_from_cot(
            event, received_at=RECEIVED, source="cot-tcp", reporter="x", authenticated=False
        ) is None  # fmt: skip
    no_point = dataclasses.replace(sa(), lat=None, lon=None)
    assert report_from_cot(
        no_point, received_at=RECEIVED, source="cot-tcp", reporter="x", authenticated=False
    ) is None  # fmt: skip
