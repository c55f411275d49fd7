"""Fuzz target: coordinate text (MGRS, decimal and DMS latitude/longitude, SK-42).

The text is decoded as a command-line argument is (UTF-8, undecodable bytes kept as surrogate
escapes). Properties: ``parse_location`` returns a finite WGS 84 position or raises
``GeoError``; the MGRS of any parsed position reads back to a cell centre within the cell's
half-diagonal of that position.
"""

import math

from harness import fuzz, instrumented

with instrumented():
    from holdfire.geo.coords import Datum, parse_location, parse_mgrs, to_mgrs
    from holdfire.geo.errors import GeoError
    from holdfire.geo.geodesy import distance_m


def test_one(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    for datum in Datum:
        try:
            location = parse_location(text, datum)
        except GeoError:
            continue
        assert math.isfinite(location.lat) and abs(location.lat) <= 90
        assert math.isfinite(location.lon) and abs(location.lon) <= 180
        grid = to_mgrs(location.lat, location.lon)
        back = parse_mgrs(grid)
        off = distance_m(location.lat, location.lon, back.lat, back.lon)
        assert off <= back.cell_m + 1e-3, (text, grid, back, off)  # a corner, to rounding


SEEDS = [
    "36UXB5303396604", "36UXB530966", "36U XB 53033 96604", "4QFJ1234567890", "ZAH1234512345",
    "AZN 12 34", "51.35035, 35.1003", "51.5 -0.12", "-33.8688 151.2093", "51°21'00\"N 35°06'00\"E",
    "N 51 30 15, E 35 12 00", "51°30.25'N 35°12.5'E", "51º21′00″N 35º06′00″E", "0, 0", "90, 180",
]  # fmt: skip

if __name__ == "__main__":
    fuzz(test_one, [seed.encode() for seed in SEEDS], max_len=256)
