"""The event encoding both stores share."""

import json

from holdfire.adapters.store.encoding import STATEMENTS, Op, dumps, encode
from holdfire.codecs.json import event_to_dict
from holdfire.domain.checks import CheckRequest
from holdfire.domain.events import CheckEvaluated
from holdfire.engine.clearance import evaluate
from holdfire.engine.picture import Picture
from support.builders import AIM, NOW, make_tables


def test_a_check_row_is_the_event_shape_byte_for_byte() -> None:
    """The log row of a check is written around the checks row's JSON text, not re-encoded:
    it must still be exactly what event_to_dict gives."""
    clearance = evaluate(
        Picture(make_tables()), CheckRequest(lat=AIM[0], lon=AIM[1], weapon="test-gun"),
        now=NOW, check_id="c-1",
    )  # fmt: skip
    event = CheckEvaluated(clearance)
    row = encode(event)
    assert row.body == dumps(event_to_dict(event))
    assert json.loads(row.body)["clearance"] == json.loads(row.state[0][1][-1])


def test_every_operation_has_a_statement_or_is_a_backends_own() -> None:
    own = {Op.CANCEL_MEASURE, Op.REVOKE_TOKEN}  # they edit a JSON body: each dialect's way
    assert set(STATEMENTS) | own == set(Op)
    assert not set(STATEMENTS) & own
