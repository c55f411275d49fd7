"""After-action replay: the picture as it stood at an instant, folded from the event log.

Pure: the events come in (oldest first, as the log holds them), a :class:`Picture` comes out.
Only the events that change the picture count (units registered, positions reported, measures
defined and cancelled, markers removed), applied exactly as the live service applied them, by
the same methods. An event counts if it was *recorded* by the instant asked for
(:func:`~holdfire.domain.events.recorded_at`: a report's arrival, not its observation time): the
picture at 14:32 is what the server knew at 14:32, and a fix observed at 14:30 that arrived at
14:35 was not in it, nor in any check answered in between.

A check's own picture (:class:`Replay` with ``check_id``) ends where its record lies in the log:
every handler changes the picture and queues its events for the log in one step, so the log's
order is the order the picture changed in, and what precedes the check's record is what it
was answered on. Events recorded after its evaluation time are left out too (a record that
waited in the spool while the store was down lands after later events).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from holdfire.domain.events import (
    CheckEvaluated,
    Event,
    MarkerRemoved,
    MeasureCancelled,
    MeasureDefined,
    PositionReported,
    UnitRegistered,
    recorded_at,
)
from holdfire.domain.measures import Measure, MeasureStatus
from holdfire.domain.tables import Tables
from holdfire.engine.picture import Picture

# The events that change the picture (every other event leaves it as it is).
PICTURE_EVENTS = (UnitRegistered, PositionReported, MeasureDefined, MeasureCancelled, MarkerRemoved)


def apply_event(picture: Picture, event: Event) -> None:
    """Fold one event into the picture, as the service did when it happened."""
    if isinstance(event, UnitRegistered):
        picture.register_unit(event.unit)
    elif isinstance(event, PositionReported):
        picture.apply_report(event.report)
    elif isinstance(event, MeasureDefined):
        picture.define_measure(event.measure)
    elif isinstance(event, MeasureCancelled):
        picture.cancel_measure(event.measure_id)
    elif isinstance(event, MarkerRemoved):
        picture.remove_marker(event.uid)


class Replay:
    """A fold in progress: feed it the log a page at a time until :attr:`done`."""

    def __init__(self, tables: Tables, at: datetime, *, check_id: str | None = None) -> None:
        self.picture = Picture(tables)
        self.at = at
        self.check_id = check_id
        self.applied = 0  # events that changed the picture
        self.last_seq = 0  # the last event read
        self.done = False  # the check's record was reached: nothing after it counts
        self.first_at: datetime | None = None  # when the log's first event was recorded

    def feed(self, events: Iterable[tuple[int, Event]]) -> None:
        for seq, event in events:
            if self.done:
                return
            self.last_seq = seq
            if self.first_at is None:
                self.first_at = recorded_at(event)
            if isinstance(event, CheckEvaluated):
                self.done = event.clearance.id == self.check_id
                continue
            if isinstance(event, PICTURE_EVENTS) and recorded_at(event) <= self.at:
                apply_event(self.picture, event)
                self.applied += 1


@dataclass(frozen=True, slots=True)
class MeasureAt:
    """A measure of the picture and whether it is in force at the instant replayed."""

    measure: Measure
    in_force: bool


def measures_at(picture: Picture, at: datetime) -> list[MeasureAt]:
    """Every measure not cancelled by then, sorted by id; in force if its window holds `at`
    (a missing or unreadable window holds every instant, as the check reads it)."""
    out = []
    for measure in sorted(picture.measures(), key=lambda m: m.id):
        if measure.status is MeasureStatus.CANCELLED:
            continue
        start, end = measure.effective_from, measure.effective_to
        inverted = start is not None and end is not None and end < start
        in_window = (start is None or start <= at) and (end is None or at <= end)
        out.append(MeasureAt(measure, measure.window_invalid or inverted or in_window))
    return out
