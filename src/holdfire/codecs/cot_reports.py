"""CotEvent (an atom's SA) -> PositionReport, by the rules of design.md §3.

- Only atoms (type ``a-…``) with a point are positions; every other event gives None.
- Affiliation: the type's second field (``a-f-…`` friend, ``a-h-…`` hostile …) through
  ``affiliation_from_cot_letter``; a wildcard (``a-.-…``), a missing or garbled letter is
  *unknown* (still protected).
- ``ce`` is CoT's 1-sigma circular error: the 95 % circle is ``ce × 2.45``. A ``ce`` that is
  missing, ≥ 999999 (CoT's "unknown"), negative or zero is unknown (None), so the mobility class's
  worst case applies. Zero is read as unknown because no real fix is perfect: a zero is a sender
  that did not fill the field, and reading it as exact would shrink the protection.
- ``hae`` (height above the ellipsoid) is kept as ``hae_m``, None when missing or ≥ 999999.
- ``time`` is ``observed_at``; a missing one is the arrival time, marked ``time_assumed``.
  The future-time rule (``suspect_time``) is the domain's ``settle_times``, applied later.
- ``stale`` is ``stale_at``; ``contact@callsign``, ``track@course`` (degrees, kept when in
  [0, 360]) and ``track@speed`` (m/s, kept when ≥ 0) are carried over.
- Mobility comes from the type's battle dimension and function code (MIL-STD-2525 fields), from
  the small table below. Unknown is the worst case, so anything not clearly listed is unknown:

  ============================================  ===========  =================================
  type (after ``a-<affiliation>-``)             mobility     why
  ============================================  ===========  =================================
  ``A…``                                        air          battle dimension air
  ``G-I…``                                      static       installations
  ``G-U-C-I-M…`` ``G-U-C-I-Z…`` ``G-U-C-I-I…``  wheeled      mechanized / motorized infantry,
                                                             IFV: may ride wheels, the faster
  ``G-U-C-I…`` (any other)                      dismounted   infantry
  ``G-U-C-A-W…``                                wheeled      wheeled armour
  ``G-U-C-A…`` (any other)                      tracked      armour
  ``G-U-C-R…``                                  wheeled      reconnaissance
  ``G-E-V-A-T…``                                tracked      tank
  ``G-E-V…`` (any other)                        wheeled      ground vehicles
  anything else (``G-U-C`` included)            unknown      not sure: the worst case
  ============================================  ===========  =================================
"""

from __future__ import annotations

import math
from datetime import datetime

from holdfire.codecs.cot_xml import CotError, CotEvent
from holdfire.domain.errors import DomainError
from holdfire.domain.identity import Affiliation, affiliation_from_cot_letter
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility

__all__ = [
    "CE_95_FACTOR",
    "affiliation_from_cot_type",
    "ce95_from_cot",
    "mobility_from_cot_type",
    "report_from_cot",
]

CE_95_FACTOR = 2.45  # 1-sigma circular error -> 95 % circle (Rayleigh: sqrt(-2 ln 0.05))
COT_UNKNOWN = 999999.0  # this or more means "unknown" (TAK writes 9999999 or 999999)

# (function-code prefix, mobility), most specific first; prefixes of the fields after the
# battle dimension G.
_GROUND: tuple[tuple[tuple[str, ...], Mobility], ...] = (
    (("I",), Mobility.STATIC),
    (("U", "C", "I", "M"), Mobility.WHEELED),
    (("U", "C", "I", "Z"), Mobility.WHEELED),
    (("U", "C", "I", "I"), Mobility.WHEELED),
    (("U", "C", "I"), Mobility.DISMOUNTED),
    (("U", "C", "A", "W"), Mobility.WHEELED),
    (("U", "C", "A"), Mobility.TRACKED),
    (("U", "C", "R"), Mobility.WHEELED),
    (("E", "V", "A", "T"), Mobility.TRACKED),
    (("E", "V"), Mobility.WHEELED),
)


def _fields(cot_type: str) -> list[str]:
    return cot_type.split(";", 1)[0].strip().split("-")


def affiliation_from_cot_type(cot_type: str) -> Affiliation:
    """The standard identity an atom's type claims; unknown when missing or garbled."""
    fields = _fields(cot_type)
    if len(fields) < 2 or fields[0] != "a":
        return Affiliation.UNKNOWN
    return affiliation_from_cot_letter(fields[1])


def mobility_from_cot_type(cot_type: str) -> Mobility:
    """The mobility class a type implies (see the module table); unknown when unsure."""
    fields = _fields(cot_type)
    if len(fields) < 3 or fields[0] != "a":
        return Mobility.UNKNOWN
    dimension, function = fields[2], tuple(fields[3:])
    if dimension == "A":
        return Mobility.AIR
    if dimension != "G":
        return Mobility.UNKNOWN
    for prefix, mobility in _GROUND:
        if function[: len(prefix)] == prefix:
            return mobility
    return Mobility.UNKNOWN


def ce95_from_cot(ce: float | None) -> float | None:
    """CoT 1-sigma ``ce`` -> the 95 % circle in metres; None when unknown (see module doc)."""
    if ce is None or not math.isfinite(ce) or ce <= 0 or ce >= COT_UNKNOWN:
        return None
    return ce * CE_95_FACTOR


def _known(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or abs(value) >= COT_UNKNOWN:
        return None
    return value


def report_from_cot(
    event: CotEvent,
    *,
    received_at: datetime,
    source: str,
    reporter: str,
    authenticated: bool,
) -> PositionReport | None:
    """The position an atom's event reports, or None for events that are not positions."""
    if not event.type.startswith("a-") or event.lat is None or event.lon is None:
        return None
    course = event.course
    if course is not None and not (math.isfinite(course) and 0.0 <= course <= 360.0):
        course = None
    speed = event.speed
    if speed is not None and not (math.isfinite(speed) and speed >= 0.0):
        speed = None
    observed_at = event.time if event.time is not None else received_at
    try:
        return PositionReport(
            uid=event.uid,
            lat=event.lat,
            lon=event.lon,
            observed_at=observed_at,
            received_at=received_at,
            source=source,
            reporter=reporter,
            authenticated=authenticated,
            ce_m=ce95_from_cot(event.ce),
            hae_m=_known(event.hae),
            affiliation=affiliation_from_cot_type(event.type),
            mobility=mobility_from_cot_type(event.type),
            callsign=event.callsign,
            course_deg=course,
            speed_mps=speed,
            stale_at=event.stale,
            time_assumed=event.time is None,
        )
    except DomainError as exc:  # parse_event already refused these; kept as a safety net
        raise CotError("bad-point", str(exc)) from None
