"""Pure geodesy for holdfire: coordinate parsing, geodesic distances and local metric frames.

Everything is WGS 84 latitude/longitude in degrees (latitude first in every signature) and metres.
No I/O and no clock: MGRS conversion comes from ``mgrs``, datum shifts, geodesics (Karney) and
projections from ``pyproj``, plane geometry from ``shapely``. Bad input raises GeoError.
"""

from holdfire.geo.coords import (
    DATUM_ERROR_M,
    Datum,
    Location,
    check_lat_lon,
    check_lat_lon_arrays,
    parse_datum,
    parse_latlon,
    parse_location,
    parse_mgrs,
    sk42_to_wgs84,
    to_mgrs,
)
from holdfire.geo.errors import GeoError
from holdfire.geo.frame import (
    LocalFrame,
    Polyline,
    frame_for,
    line_vertices,
    side_of_line,
    side_of_vertices,
)
from holdfire.geo.geodesy import destination, distance_m, distances_m, inverse

__all__ = [
    "DATUM_ERROR_M",
    "Datum",
    "GeoError",
    "LocalFrame",
    "Location",
    "Polyline",
    "check_lat_lon",
    "check_lat_lon_arrays",
    "destination",
    "distance_m",
    "distances_m",
    "frame_for",
    "inverse",
    "line_vertices",
    "parse_datum",
    "parse_latlon",
    "parse_location",
    "parse_mgrs",
    "side_of_line",
    "side_of_vertices",
    "sk42_to_wgs84",
    "to_mgrs",
]
