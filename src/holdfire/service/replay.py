"""Replaying the log: the picture at an instant, and the picture a stored check was answered on.

Reads the event log through the Store port a page at a time and folds it with
:class:`holdfire.engine.replay.Replay`. Nothing is written and the live picture is not touched.

Rebuilt, not stored: what a check weighed is not kept with its record (that would cost on every
check, the hottest write there is) but rebuilt from the log when someone asks, which costs only
then. The log is append-only and audited, and the rebuild is checked: the stored request is
evaluated again on the rebuilt picture at the check's own time, and the answer says whether it
reproduces the stored verdict and reasons (as stored: distances to 0.1 m, see
:func:`holdfire.codecs.replay.check_picture_to_dict`).
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from holdfire.domain.checks import Clearance
from holdfire.domain.errors import NotFound
from holdfire.domain.tables import Tables
from holdfire.engine.clearance import Weighed, evaluate, weighed
from holdfire.engine.picture import Picture
from holdfire.engine.replay import Replay
from holdfire.service.ports import Store

PAGE = 1000  # events read per query
# The fold runs on the event loop: it hands the loop back after every slice of this many events
# (about 15 ms of folding on a quiet machine), so checks and reports go on during a replay.
SLICE = 200


async def _fold(store: Store, folded: Replay) -> Replay:
    while not folded.done:
        page = await store.events(folded.last_seq, PAGE)
        if not page:
            break
        for start in range(0, len(page), SLICE):
            folded.feed(page[start : start + SLICE])
            await asyncio.sleep(0)
    return folded


async def picture_at(store: Store, tables: Tables, at: datetime) -> Replay:
    """The picture as it stood at `at`: every event recorded by then, folded in log order."""
    return await _fold(store, Replay(tables, at))


@dataclass(frozen=True, slots=True)
class CheckPicture:
    """A stored check, the picture it was answered on and what it weighed there."""

    clearance: Clearance
    picture: Picture
    weighed: Weighed | None  # None: its target was invalid, so nothing was weighed
    replayed: Clearance  # the stored request evaluated again on the rebuilt picture
    events: int  # events folded into the picture


async def check_picture(store: Store, tables: Tables, check_id: str) -> CheckPicture:
    """What check `check_id` saw, rebuilt from the log up to its own record."""
    clearance = await store.get_check(check_id)
    if clearance is None:
        raise NotFound("check", check_id)
    folded = await _fold(store, Replay(tables, clearance.evaluated_at, check_id=check_id))
    now = clearance.evaluated_at
    return CheckPicture(
        clearance=clearance,
        picture=folded.picture,
        weighed=weighed(folded.picture, clearance.request, now=now),
        replayed=evaluate(folded.picture, clearance.request, now=now, check_id=clearance.id),
        events=folded.applied,
    )
