"""Coordinate input: MGRS, latitude/longitude text and datums, all normalised to WGS 84 degrees.

Every function either returns WGS 84 latitude/longitude or raises GeoError with a message that
says what was wrong and what is expected. MGRS conversion is done by the ``mgrs`` library and datum
shifts by PROJ (``pyproj``); this module only validates, dispatches and explains.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

import mgrs
import numpy as np
import numpy.typing as npt
from mgrs.core import MGRSError
from pyproj import Transformer
from pyproj.exceptions import ProjError

from holdfire.geo.errors import GeoError

FloatArray = npt.NDArray[np.float64]


# --- validation -------------------------------------------------------------------------------


def check_lat_lon(lat: float, lon: float) -> None:
    """Raise GeoError unless ``lat`` is in [-90, 90] and ``lon`` in [-180, 180] (finite)."""
    if not math.isfinite(lat):
        raise GeoError(f"latitude {lat} is not a finite number; expected degrees in [-90, 90]")
    if not math.isfinite(lon):
        raise GeoError(f"longitude {lon} is not a finite number; expected degrees in [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise GeoError(f"latitude {lat} is outside [-90, 90]; expected degrees, north positive")
    if not -180.0 <= lon <= 180.0:
        raise GeoError(f"longitude {lon} is outside [-180, 180]; expected degrees, east positive")


def check_lat_lon_arrays(lats: npt.ArrayLike, lons: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised check_lat_lon: both as float64 arrays, or GeoError naming the first bad one."""
    lat = np.asarray(lats, dtype=np.float64)
    lon = np.asarray(lons, dtype=np.float64)
    if lat.shape != lon.shape:
        raise GeoError(
            f"latitudes have shape {lat.shape} but longitudes {lon.shape}; expected one longitude "
            "per latitude"
        )
    with np.errstate(invalid="ignore"):  # NaN compares False, which marks it bad: what we want
        ok = (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0)
    if not ok.all():
        index = int(np.flatnonzero(~ok)[0])
        try:
            check_lat_lon(float(lat.flat[index]), float(lon.flat[index]))
        except GeoError as exc:
            raise GeoError(f"position {index}: {exc}") from None
    return lat, lon


@dataclass(frozen=True, slots=True)
class Location:
    """A WGS 84 position in degrees and the uncertainty its notation carries.

    ``cell_m`` is the half-diagonal in metres of the grid cell the input named (the distance from
    the cell centre to its corners); 0.0 when the input was latitude/longitude.
    """

    lat: float
    lon: float
    cell_m: float

    def __post_init__(self) -> None:
        check_lat_lon(self.lat, self.lon)
        if not (math.isfinite(self.cell_m) and self.cell_m >= 0.0):
            raise GeoError(f"cell size {self.cell_m} m is invalid; expected a finite value >= 0")


# --- datums -----------------------------------------------------------------------------------


class Datum(StrEnum):
    """Datums accepted on input; everything is WGS 84 internally."""

    WGS84 = "WGS84"
    SK42 = "SK42"


# Keys are upper case with spaces, hyphens and underscores removed.
_DATUM_NAMES: Mapping[str, Datum] = {
    "WGS84": Datum.WGS84,
    "EPSG:4326": Datum.WGS84,
    "SK42": Datum.SK42,
    "PULKOVO1942": Datum.SK42,
    "EPSG:4284": Datum.SK42,
}


def parse_datum(text: str | None) -> Datum:
    """Parse a datum tag; a missing or empty tag means WGS 84."""
    if text is None or not text.strip():
        return Datum.WGS84
    datum = _DATUM_NAMES.get(re.sub(r"[\s_-]+", "", text).upper())
    if datum is None:
        raise GeoError(
            f"datum '{text.strip()}' is not supported; expected WGS84 (EPSG:4326) or SK42 "
            "(Pulkovo 1942, EPSG:4284)"
        )
    return datum


@lru_cache(maxsize=1)
def _sk42_transformer() -> Transformer:
    # Both EPSG CRSs are lat, lon by definition; always_xy makes both sides lon, lat, which is the
    # order sk42_to_wgs84 passes in and reads back.
    return Transformer.from_crs("EPSG:4284", "EPSG:4326", always_xy=True)


def _wrap_lon(lon: float) -> float:
    # A datum shift can push a longitude just past ±180.
    return lon - 360.0 if lon > 180.0 else lon + 360.0 if lon < -180.0 else lon


def sk42_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Convert SK-42 (Pulkovo 1942) latitude/longitude to WGS 84 with PROJ's default operation."""
    check_lat_lon(lat, lon)
    try:
        wgs_lon, wgs_lat = _sk42_transformer().transform(lon, lat, errcheck=True)
    except ProjError as exc:
        raise GeoError(
            f"SK-42 position {lat}, {lon} could not be converted to WGS 84 ({exc}); expected a "
            "position inside the area where Pulkovo 1942 is used"
        ) from None
    return float(wgs_lat), _wrap_lon(float(wgs_lon))


def _sk42_residual_m() -> float:
    # Transformer.accuracy is -1 here: the transformer holds all EPSG "Pulkovo 1942 to WGS 84"
    # operations and picks one per point. So ask which one it picks at the domain reference point
    # (51.4 N, 35.2 E). With PROJ 9.5 that is EPSG:5044, "Pulkovo 1942 to WGS 84 (20)" (GOST R
    # 51794-2008), accuracy 3 m; PROJ picks it wherever its area box applies (Russia's, which also
    # covers Ukraine and the Baltic states). Unknown accuracy falls back to 10 m.
    transformer = _sk42_transformer()
    transformer.transform(35.2, 51.4)
    accuracy = transformer.get_last_used_operation().accuracy
    return float(math.ceil(accuracy)) if accuracy > 0 else 10.0


DATUM_ERROR_M: Mapping[Datum, float] = MappingProxyType(
    {Datum.WGS84: 0.0, Datum.SK42: _sk42_residual_m()}
)
"""Residual position error in metres after conversion to WGS 84 (SK42: 3.0 with PROJ 9.5)."""


# --- MGRS -------------------------------------------------------------------------------------

_MGRS = mgrs.MGRS()
_UTM_REF = re.compile(r"(?P<zone>\d{1,2})(?P<band>[A-Z])(?P<square>[A-Z]{2})(?P<digits>\d*)")
_UPS_REF = re.compile(r"(?P<band>[ABYZ])(?P<square>[A-Z]{2})(?P<digits>\d*)")
_BANDS = "CDEFGHJKLMNPQRSTUVWX"  # 8° each from 80° S; X spans 12°, to 84° N
_SQUARE_ROWS = "ABCDEFGHJKLMNPQRSTUV"
# Half-diagonal of the cell named by 1 to 5 digit pairs (10 km to 1 m squares), in grid metres.
_HALF_DIAGONAL_M = {pairs: 10.0 ** (5 - pairs) * math.sqrt(0.5) for pairs in range(1, 6)}
# Ground length = grid length / scale factor, and the scale factor never drops below the central
# one (UTM 0.9996, UPS 0.994 at the pole); dividing by it bounds the cell's ground half-diagonal.
_UTM_K0 = 0.9996
_UPS_K0 = 0.994
_M_PER_DEG_LAT_MIN = 110_574.0  # at the equator; elsewhere a degree of latitude is longer
_SAFE_SOUTH_LAT = -1e-7  # 11 mm south of the equator


def parse_mgrs(text: str) -> Location:
    """Parse an MGRS reference (UTM zones or polar UPS) into the centre of the cell it names.

    Spaces and lower case are accepted. The reference names the cell whose lower-left corner is
    the value given; ``mgrs`` already returns that cell's centre at every precision (checked in the
    tests). ``cell_m`` is the cell's half-diagonal in ground metres, an upper bound: the grid
    half-diagonal (7071.07 m for 1 digit pair ... 0.707 m for 5) divided by the smallest scale
    factor of the grid, so 7073.90 m ... 0.70739 m in UTM zones and 0.6 % more than grid in UPS.
    """
    quoted = text.strip()
    compact = re.sub(r"\s+", "", text).upper()
    utm = _UTM_REF.fullmatch(compact)
    ref = utm or _UPS_REF.fullmatch(compact)
    if ref is None:
        raise GeoError(
            f"MGRS '{quoted}' is not a grid reference; expected zone (1-60), band letter, two "
            "100 km square letters and digits, e.g. '36UXB5303396604' (or a polar A/B/Y/Z one)"
        )
    band, square, digits = ref["band"], ref["square"], ref["digits"]
    if utm is not None:
        zone = int(utm["zone"])
        if not 1 <= zone <= 60:
            raise GeoError(f"MGRS '{quoted}' has zone {zone}; zones run from 1 to 60")
        if band not in _BANDS:
            raise GeoError(
                f"MGRS '{quoted}' has band letter '{band}'; bands run from C to X, skipping I and O"
            )
    if "I" in square or "O" in square or (utm is not None and square[1] not in _SQUARE_ROWS):
        raise GeoError(
            f"MGRS '{quoted}' has 100 km square '{square}'; square letters skip I and O, and in "
            "UTM zones the second one runs from A to V"
        )
    if not digits:
        raise GeoError(
            f"MGRS '{quoted}' names only a 100 km square; a 100 km square is too coarse to aim "
            "at: add 1 to 5 digits each of easting and northing"
        )
    if len(digits) % 2:
        raise GeoError(
            f"MGRS '{quoted}' has an odd number of digits ({len(digits)}); easting and northing "
            "need the same number of digits"
        )
    if len(digits) > 10:
        raise GeoError(
            f"MGRS '{quoted}' has {len(digits)} digits; expected at most 10 (5 each for easting "
            "and northing, a 1 m cell)"
        )
    try:
        lat, lon = (float(value) for value in _MGRS.toLatLon(compact))
    except MGRSError as exc:
        raise GeoError(
            f"MGRS '{quoted}' is not a valid reference ({exc}); expected a 100 km square that "
            "exists in that grid zone"
        ) from None
    cell_m = _HALF_DIAGONAL_M[len(digits) // 2] / (_UPS_K0 if utm is None else _UTM_K0)
    if utm is not None:
        _check_band(quoted, band, lat, cell_m)
    return Location(lat, lon, cell_m)


def _check_band(quoted: str, band: str, lat: float, cell_m: float) -> None:
    # The band letter picks which 2,000 km cycle of square rows is meant, so a wrong band moves the
    # point by thousands of km; mgrs only warns. A cell may straddle a band edge, so allow half a
    # cell of slack.
    south = -80.0 + 8.0 * _BANDS.index(band)
    north = 84.0 if band == "X" else south + 8.0
    slack = cell_m / _M_PER_DEG_LAT_MIN
    if not south - slack <= lat <= north + slack:
        raise GeoError(
            f"MGRS '{quoted}' has band {band} ({south:g}° to {north:g}°) but its square and "
            f"northing put it at latitude {lat:.4f}; check the band letter"
        )


def to_mgrs(lat: float, lon: float, digits: int = 5) -> str:
    """Compact MGRS (no spaces) of the cell containing the point, ``digits`` per axis (1 to 5).

    Coordinates are truncated, never rounded: the reference names the cell the point lies in
    (mgrs does round to a fraction of a millimetre first, which is immaterial).
    """
    check_lat_lon(lat, lon)
    if digits not in _HALF_DIAGONAL_M:
        raise GeoError(
            f"MGRS precision {digits} is not supported; expected 1 to 5 digits per axis "
            "(10 km to 1 m)"
        )
    if _SAFE_SOUTH_LAT < lat < 0.0:
        # Within about 6 mm south of the equator mgrs rounds the northing up to 10,000,000 in band
        # M, a row that does not exist. 11 mm south is still inside the same 1 m cell.
        lat = _SAFE_SOUTH_LAT
    try:
        return str(_MGRS.toMGRS(lat, lon, MGRSPrecision=digits))
    except MGRSError as exc:
        raise GeoError(
            f"position {lat}, {lon} could not be written as MGRS ({exc}); expected a WGS 84 "
            "latitude and longitude"
        ) from None


# --- latitude/longitude text ------------------------------------------------------------------

_SYMBOLS = str.maketrans(
    {"º": "°", "˚": "°", "′": "'", "’": "'", "‘": "'", "″": '"', "“": '"', "”": '"'}
)
_TOKENS = re.compile(
    r"""(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))
      | (?P<hemisphere>[NSEW])
      | (?P<mark>[°'"])
      | (?P<comma>,)
      | (?P<space>\s+)
      | (?P<bad>.)""",
    re.VERBOSE,
)
_MARKS = "°'\""  # degrees, minutes, seconds, in that order
_PART_NAMES = ("degrees", "minutes", "seconds")

Token = tuple[str, str]  # (kind, text); kind is a group name of _TOKENS


def parse_latlon(text: str) -> Location:
    """Parse WGS 84 latitude/longitude text.

    Accepts a decimal pair read as "lat, lon" ("51.5, 35.2", "51.5 -0.12"), or decimal degrees,
    degrees and decimal minutes, or degrees, minutes and seconds with one N/S and one E/W letter,
    all before or all after their numbers ("51°30'15\"N 35°12'00.5\"E", "N 51 30 15, E 35 12 00").
    With letters, the N/S one is the latitude whatever the order.
    """
    quoted = text.strip()
    normalised = quoted.upper().translate(_SYMBOLS).replace("''", '"')
    if "NAN" in normalised or "INF" in normalised:
        raise GeoError(f"lat/lon '{quoted}' is not a finite number; expected degrees")
    tokens: list[Token] = []
    for match in _TOKENS.finditer(normalised):
        kind = str(match.lastgroup)
        if kind == "bad":
            raise GeoError(
                f"lat/lon '{quoted}' has an unexpected character '{match.group()}'; expected "
                "numbers, hemisphere letters N/S/E/W, the marks ° ' \", spaces or a comma"
            )
        if kind != "space":
            tokens.append((kind, match.group()))
    letters = [i for i, (kind, _) in enumerate(tokens) if kind == "hemisphere"]
    lat, lon = _lettered(quoted, tokens, letters) if letters else _unlettered(quoted, tokens)
    try:
        check_lat_lon(lat, lon)
    except GeoError as exc:
        raise GeoError(f"lat/lon '{quoted}': {exc}") from None
    return Location(lat, lon, 0.0)


def _unlettered(quoted: str, tokens: list[Token]) -> tuple[float, float]:
    # Without letters only "lat, lon" in decimal degrees is unambiguous.
    shape = "".join(kind[0] for kind, _ in tokens)  # n(umber), m(ark), c(omma)
    marks = {value for kind, value in tokens if kind == "mark"}
    if not re.fullmatch(r"nm?c?nm?", shape) or marks - {"°"}:
        raise GeoError(
            f"lat/lon '{quoted}' has no hemisphere letters, so it must be two decimal numbers "
            "'lat, lon'; DMS needs hemisphere letters, e.g. 51°30'15\"N 35°12'00\"E"
        )
    lat, lon = (float(value) for kind, value in tokens if kind == "number")
    if abs(lat) > 90.0 and abs(lon) <= 90.0:
        raise GeoError(
            f"lat/lon '{quoted}' looks like lon, lat ({lat} cannot be a latitude); write lat, lon "
            "or add hemisphere letters"
        )
    return lat, lon


def _lettered(quoted: str, tokens: list[Token], letters: list[int]) -> tuple[float, float]:
    if len(letters) != 2:
        raise GeoError(
            f"lat/lon '{quoted}' has {len(letters)} hemisphere letter(s); expected one N/S for "
            "the latitude and one E/W for the longitude, or none for a decimal 'lat, lon'"
        )
    first, second = letters
    last = len(tokens) - 1
    if first == 0 and second != last:  # N51.5 E35.2
        groups = [tokens[1:second], tokens[second + 1 :]]
    elif first != 0 and second == last:  # 51.5N 35.2E
        groups = [tokens[:first], tokens[first + 1 : second]]
    else:
        raise GeoError(
            f"lat/lon '{quoted}' mixes leading and trailing hemisphere letters; put each letter "
            "before (N51.5 E35.2) or each after (51.5N 35.2E) its coordinate"
        )
    hemispheres = [tokens[first][1], tokens[second][1]]
    for axis in ("NS", "EW"):
        if hemispheres[0] in axis and hemispheres[1] in axis:
            raise GeoError(
                f"lat/lon '{quoted}' has two {axis[0]}/{axis[1]} letters; expected one N/S for "
                "the latitude and one E/W for the longitude"
            )
    values = {
        hemisphere: _angle(quoted, hemisphere, group)
        for hemisphere, group in zip(hemispheres, groups, strict=True)
    }
    lat = next(v if h == "N" else -v for h, v in values.items() if h in "NS")
    lon = next(v if h == "E" else -v for h, v in values.items() if h in "EW")
    return lat, lon


def _angle(quoted: str, hemisphere: str, group: list[Token]) -> float:
    """Degrees from the numbers and marks of one coordinate (D, D M or D M S; no sign)."""
    while group and group[0][0] == "comma":
        group = group[1:]
    while group and group[-1][0] == "comma":
        group = group[:-1]
    parts: list[list[str]] = []  # [number] or [number, mark]
    for kind, value in group:
        if kind == "comma":
            raise GeoError(
                f"lat/lon '{quoted}' has a comma inside its {hemisphere} coordinate; use '.' for "
                "decimals and a comma only between latitude and longitude"
            )
        if kind == "number":
            parts.append([value])
        elif not parts or len(parts[-1]) == 2:
            raise GeoError(
                f"lat/lon '{quoted}' has a stray '{value}' in its {hemisphere} coordinate; "
                "expected each mark right after its number"
            )
        else:
            parts[-1].append(value)
    if not 1 <= len(parts) <= 3:
        raise GeoError(
            f"lat/lon '{quoted}' has {len(parts)} numbers for {hemisphere}; expected degrees, "
            "optionally followed by minutes and seconds"
        )
    degrees = 0.0
    for index, part in enumerate(parts):
        number, name = part[0], _PART_NAMES[index]
        if len(part) == 2 and part[1] != _MARKS[index]:
            raise GeoError(
                f"lat/lon '{quoted}' marks the {name} of {hemisphere} with {part[1]}; expected "
                f"{_MARKS[index]}"
            )
        if number[0] in "+-":
            raise GeoError(
                f"lat/lon '{quoted}' has a sign on {number} and the letter {hemisphere}; use "
                "either a sign or a hemisphere letter, not both"
            )
        if index < len(parts) - 1 and "." in number:
            raise GeoError(
                f"lat/lon '{quoted}' has fractional {name} ({number}) followed by "
                f"{_PART_NAMES[index + 1]}; only the last number may have decimals"
            )
        amount = float(number)
        if index > 0 and amount >= 60.0:
            raise GeoError(
                f"lat/lon '{quoted}' has {name} {number} in {hemisphere}; expected less than 60"
            )
        degrees += amount / 60.0**index
    return degrees


# --- dispatch ---------------------------------------------------------------------------------

# 1-2 digits, a band letter and a square letter (UTM) or a polar A/B/Y/Z band and square letters.
# Requiring the square letter keeps "51N 35E" a latitude/longitude.
_LOOKS_LIKE_MGRS = re.compile(r"\s*(?:\d{1,2}\s*[A-Z]|[ABYZ])\s*[A-Z]", re.IGNORECASE)


def parse_location(text: str, datum: Datum = Datum.WGS84) -> Location:
    """Parse MGRS or latitude/longitude text into a WGS 84 Location.

    MGRS is always WGS 84, so ``datum`` only applies to latitude/longitude; SK-42 positions are
    converted with sk42_to_wgs84.
    """
    if _LOOKS_LIKE_MGRS.match(text):
        return parse_mgrs(text)
    location = parse_latlon(text)
    if datum is Datum.SK42:
        return Location(*sk42_to_wgs84(location.lat, location.lon), location.cell_m)
    return location
