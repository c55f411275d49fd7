"""Properties: nothing that adds doubt or danger ever makes a verdict looser."""

import math
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holdfire.domain.checks import CheckRequest, Clearance, ReasonCode, Verdict
from holdfire.domain.identity import Affiliation
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind, PolygonGeometry
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit
from holdfire.engine.clearance import evaluate
from holdfire.engine.picture import Picture
from holdfire.geo import parse_mgrs, to_mgrs
from support.builders import AIM, NOW, offset, picture, report, request

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
affiliations = st.sampled_from(list(Affiliation))
mobilities = st.sampled_from([Mobility.DISMOUNTED, Mobility.WHEELED, Mobility.UNKNOWN])
ages = st.floats(min_value=0.0, max_value=3600.0)
distances = st.floats(min_value=0.0, max_value=3000.0)
azimuths = st.floats(min_value=0.0, max_value=360.0)
ces = st.floats(min_value=0.0, max_value=500.0)
RESTRICTIVE = [
    MeasureKind.NFA,
    MeasureKind.RFA,
    MeasureKind.NSL,
    MeasureKind.RTL,
    MeasureKind.ACA,
    MeasureKind.CHECKFIRE,
    MeasureKind.BOUNDARY,
    MeasureKind.RFL,
]


def severity(pic: Picture, req: CheckRequest | None = None) -> int:
    return evaluate(pic, req or request(), now=NOW, check_id="p").verdict.severity


def one_unit(
    affiliation: Affiliation,
    mobility: Mobility,
    distance: float,
    azimuth: float,
    age: float,
    ce: float | None,
) -> Picture:
    pic = picture()
    pic.register_unit(Unit("u", "U", affiliation=affiliation, mobility=mobility))
    pic.apply_report(
        report(
            "u",
            offset(*AIM, azimuth, distance),
            observed=NOW - timedelta(seconds=age),
            ce=ce,
            mobility=None,
        )
    )
    return pic


@PROPERTY
@given(affiliations, mobilities, distances, distances, azimuths, ages)
def test_moving_a_unit_closer_never_loosens(
    affiliation: Affiliation, mobility: Mobility, d1: float, d2: float, az: float, age: float
) -> None:
    far, near = max(d1, d2), min(d1, d2)
    assert severity(one_unit(affiliation, mobility, near, az, age, 10.0)) >= severity(
        one_unit(affiliation, mobility, far, az, age, 10.0)
    )


@PROPERTY
@given(affiliations, mobilities, distances, azimuths, ages, ages)
def test_ageing_a_report_never_loosens(
    affiliation: Affiliation, mobility: Mobility, d: float, az: float, a1: float, a2: float
) -> None:
    young, old = min(a1, a2), max(a1, a2)
    assert severity(one_unit(affiliation, mobility, d, az, old, 10.0)) >= severity(
        one_unit(affiliation, mobility, d, az, young, 10.0)
    )


@PROPERTY
@given(affiliations, mobilities, distances, azimuths, ages, ces, ces)
def test_raising_the_error_never_loosens(
    affiliation: Affiliation,
    mobility: Mobility,
    d: float,
    az: float,
    age: float,
    c1: float,
    c2: float,
) -> None:
    small, large = min(c1, c2), max(c1, c2)
    assert severity(one_unit(affiliation, mobility, d, az, age, large)) >= severity(
        one_unit(affiliation, mobility, d, az, age, small)
    )
    # an unknown error is the class's worst case, never better than a stated one
    assert severity(one_unit(affiliation, mobility, d, az, age, None)) >= severity(
        one_unit(affiliation, mobility, d, az, age, min(small, 100.0))
    )


@PROPERTY
@given(
    affiliations,
    distances,
    azimuths,
    st.sampled_from(RESTRICTIVE),
    st.floats(min_value=0.0, max_value=3000.0),
    azimuths,
    st.booleans(),
)
def test_adding_a_restrictive_measure_never_loosens(
    affiliation: Affiliation,
    d: float,
    az: float,
    kind: MeasureKind,
    gap: float,
    maz: float,
    polygon: bool,
) -> None:
    pic = one_unit(affiliation, Mobility.WHEELED, d, az, 30.0, 10.0)
    before = severity(pic)
    if polygon:
        tip = offset(*AIM, maz, gap)
        a, b = offset(*tip, maz - 40.0, 3000.0), offset(*tip, maz + 40.0, 3000.0)
        geometry: CircleGeometry | PolygonGeometry = PolygonGeometry(
            (tuple((p[1], p[0]) for p in (tip, a, b, tip)),)
        )
    else:
        geometry = CircleGeometry(*offset(*AIM, maz, gap + 300.0), 300.0)
    pic.define_measure(Measure("m", kind, geometry))
    assert severity(pic) >= before


@PROPERTY
@given(affiliations, distances, azimuths, distances, azimuths, ages, st.booleans())
def test_adding_an_unknown_track_or_an_unlocated_unit_never_loosens(
    affiliation: Affiliation,
    d: float,
    az: float,
    d2: float,
    az2: float,
    age: float,
    unlocated: bool,
) -> None:
    pic = one_unit(affiliation, Mobility.WHEELED, d, az, 30.0, 10.0)
    before = severity(pic)
    if unlocated:
        tip = offset(*AIM, az2, d2)
        a, b = offset(*tip, az2 - 40.0, 3000.0), offset(*tip, az2 + 40.0, 3000.0)
        ring = tuple((p[1], p[0]) for p in (tip, a, b, tip))
        pic.register_unit(Unit("ghost", "GHOST", sector=(ring,)))
    else:
        pic.register_unit(Unit("who", "WHO", affiliation=Affiliation.UNKNOWN))
        pic.apply_report(
            report("who", offset(*AIM, az2, d2), observed=NOW - timedelta(seconds=age))
        )
    assert severity(pic) >= before


@PROPERTY
@given(affiliations, distances, azimuths, st.integers(min_value=2, max_value=5), azimuths)
def test_coarsening_the_target_grid_never_loosens(
    affiliation: Affiliation, d: float, az: float, digits: int, aim_az: float
) -> None:
    pic = one_unit(affiliation, Mobility.WHEELED, d, az, 30.0, 10.0)
    lat, lon = offset(*AIM, aim_az, 500.0)
    fine_grid = to_mgrs(lat, lon, digits)
    coarse_grid = to_mgrs(lat, lon, digits - 1)

    def at(grid: str) -> int:
        cell = parse_mgrs(grid)
        return severity(pic, request((cell.lat, cell.lon), cell_m=cell.cell_m))

    assert at(coarse_grid) >= at(fine_grid)


BAD = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, -1e-9])


@PROPERTY
@given(st.sampled_from(["tle_m", "cell_m", "datum_error_m"]), BAD, affiliations, distances)
def test_bad_numbers_that_reach_the_engine_hold(
    field: str, bad: float, affiliation: Affiliation, d: float
) -> None:
    pic = one_unit(affiliation, Mobility.WHEELED, d, 0.0, 0.0, 10.0)
    result: Clearance = evaluate(pic, request(**{field: bad}), now=NOW, check_id="p")
    assert result.verdict is Verdict.HOLD
    (invalid,) = [r for r in result.reasons if r.code is ReasonCode.INVALID_INPUT]
    assert field in invalid.detail


@PROPERTY
@given(
    st.sampled_from(["lat", "lon"]), st.sampled_from([math.nan, math.inf, -math.inf, 181.0, -200.0])
)
def test_a_bad_aimpoint_holds_with_only_invalid_input(field: str, bad: float) -> None:
    coords = {"lat": AIM[0], "lon": AIM[1]} | {field: bad}
    req = CheckRequest(lat=coords["lat"], lon=coords["lon"], weapon="test-gun")
    result = evaluate(picture(), req, now=NOW, check_id="p")
    assert result.verdict is Verdict.HOLD
    assert [r.code for r in result.reasons] == [ReasonCode.INVALID_INPUT]


def test_an_impact_time_far_in_the_past_holds() -> None:
    result = evaluate(picture(), request(time=NOW - timedelta(minutes=6)), now=NOW, check_id="p")
    assert result.verdict is Verdict.HOLD
    assert result.reasons[0].code is ReasonCode.INVALID_INPUT


def test_same_inputs_same_clearance_apart_from_the_id() -> None:
    pic = one_unit(Affiliation.FRIEND, Mobility.WHEELED, 400.0, 10.0, 20.0, 10.0)
    pic.register_unit(Unit("s", "SECTOR-LESS"))
    pic.define_measure(Measure("m", MeasureKind.RFA, CircleGeometry(*AIM, 100.0)))
    first = evaluate(pic, request(), now=NOW, check_id="a")
    second = evaluate(pic, request(), now=NOW, check_id="b")
    assert first.id != second.id
    assert first.reasons == second.reasons
    assert (first.verdict, first.target, first.picture_version) == (
        second.verdict,
        second.target,
        second.picture_version,
    )
    ordered = sorted(first.reasons, key=lambda r: r.sort_key())
    assert list(first.reasons) == ordered
