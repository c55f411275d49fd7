"""The single error type raised by :mod:`holdfire.geo`."""


class GeoError(ValueError):
    """A coordinate, datum or geometry was rejected.

    The message always says what was wrong and what is expected instead, so it can be shown to an
    operator unchanged.
    """
