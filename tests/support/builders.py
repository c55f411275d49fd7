"""Builders for engine tests: a small table set with round numbers, reports, and geodesic offsets.

Positions are computed with pyproj.Geod directly, independently of holdfire.geo.
"""

from datetime import UTC, datetime, timedelta

from pyproj import Geod

from holdfire.domain.checks import CheckRequest
from holdfire.domain.identity import Affiliation
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import (
    Equipment,
    Mobility,
    MobilityClass,
    Provenance,
    Tables,
    Weapon,
)
from holdfire.engine.picture import Picture

GEOD = Geod(ellps="WGS84")
NOW = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)
# Kursk region, zone 37U: an aimpoint used throughout.
AIM = (51.40, 35.60)
TEST_PROVENANCE = Provenance("E", "test")

GUN = Weapon(
    id="test-gun",
    name="test gun",
    red10_m=100.0,
    red01_m=300.0,
    danger_close_m=600.0,
    cep_m=0.0,
    time_of_flight_s=60.0,
    max_range_m=20_000.0,
    provenance=TEST_PROVENANCE,
)


def mobility_row(m: Mobility, v: float, stale: float = 60.0, lost: float = 600.0) -> MobilityClass:
    return MobilityClass(m, v, stale, lost, 2000.0, 100.0, TEST_PROVENANCE)


def make_tables() -> Tables:
    mobility = {m: mobility_row(m, 1.0) for m in Mobility}
    mobility[Mobility.STATIC] = mobility_row(Mobility.STATIC, 0.0)
    mobility[Mobility.UNKNOWN] = mobility_row(Mobility.UNKNOWN, 2.0, 30.0, 300.0)
    equipment = {
        "tor-m2": Equipment("tor-m2", "Tor-M2", "tor", ("RUS",), TEST_PROVENANCE),
        "prk-tor-lookalike": Equipment(
            "prk-tor-lookalike", "NK trailer SAM", "tor", ("PRK",), TEST_PROVENANCE
        ),
        "2s1": Equipment("2s1", "2S1 Gvozdika", "2s1", ("RUS", "UKR"), TEST_PROVENANCE),
        "m1a2": Equipment("m1a2", "M1A2", "m1", ("USA",), TEST_PROVENANCE),
    }
    return Tables(weapons={GUN.id: GUN}, mobility=mobility, equipment=equipment)


def offset(lat: float, lon: float, azimuth: float, distance: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth, distance)
    return (lat2, lon2)


def report(
    uid: str,
    at: tuple[float, float],
    *,
    observed: datetime = NOW,
    ce: float | None = 10.0,
    affiliation: Affiliation | None = None,
    mobility: Mobility | None = Mobility.STATIC,
    reporter: str | None = None,
    authenticated: bool = True,
    source: str = "test",
    received: datetime | None = None,
) -> PositionReport:
    return PositionReport(
        uid=uid,
        lat=at[0],
        lon=at[1],
        observed_at=observed,
        received_at=received or max(observed, NOW),
        source=source,
        reporter=reporter or uid,
        authenticated=authenticated,
        ce_m=ce,
        affiliation=affiliation,
        mobility=mobility,
    )


def request(
    at: tuple[float, float] = AIM,
    *,
    weapon: str = GUN.id,
    target_type: str | None = "m1a2",
    **kwargs: object,
) -> CheckRequest:
    return CheckRequest(lat=at[0], lon=at[1], weapon=weapon, target_type=target_type, **kwargs)  # type: ignore[arg-type]


def picture() -> Picture:
    return Picture(make_tables())


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)
