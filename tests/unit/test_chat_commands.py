"""GeoChat commands to holdfire and the replies (holdfire.codecs.chat_commands)."""

from datetime import UTC, datetime, timedelta

import pytest

from holdfire.adapters.catalog import load_catalog
from holdfire.codecs.chat_commands import (
    HELP_TEXT,
    MAX_PARAMS,
    AckCommand,
    BadCommand,
    CheckCommand,
    HelpCommand,
    MessageCommand,
    format_delivery,
    format_reply,
    message_params,
    parse_command,
)
from holdfire.domain.catalog import MAX_TEXT
from holdfire.domain.checks import (
    CheckRequest,
    Clearance,
    PidBasis,
    Reason,
    ReasonCode,
    Target,
    Verdict,
)
from holdfire.domain.messages import Delivery

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["HELP", "help", "  Help  ", "help me"])
def test_help(text: str) -> None:
    assert parse_command(text) == HelpCommand()


def test_help_text_lists_the_commands_and_pid_bases() -> None:
    assert "CHECK" in HELP_TEXT and "HELP" in HELP_TEXT
    for basis in PidBasis:
        assert basis.value in HELP_TEXT


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("CHECK 36UXB5303396604 155mm-howitzer", "36UXB5303396604"),
        ("check 36uxb5303396604 155MM-Howitzer", "36uxb5303396604"),
        ("CHECK 36U XB 53033 96604 155mm-howitzer", "36U XB 53033 96604"),
        ("CHECK 36UXB 5303 9660 155mm-howitzer", "36UXB 5303 9660"),
        ("CHECK 36UXB 155mm-howitzer", "36UXB"),
        ("CHECK 51.35,35.10 155mm-howitzer", "51.35,35.10"),
        ("CHECK 51.35, 35.10 155mm-howitzer", "51.35,35.10"),
        ("CHECK 51.35 35.10 155mm-howitzer", "51.35,35.10"),
        ("CHECK -33.9 -70.6 155mm-howitzer", "-33.9,-70.6"),
        ('CHECK "51 21 00N 35 06 00E" 155mm-howitzer', "51 21 00N 35 06 00E"),
        ("CHECK\u00a051.35,35.10\u2009155mm-howitzer", "51.35,35.10"),
    ],
)
def test_check_targets(text: str, target: str) -> None:
    command = parse_command(text)
    assert command == CheckCommand(target, "155mm-howitzer")


def test_check_with_type_pid_and_quoted_detail() -> None:
    command = parse_command('CHECK 36UXB5303396604 fpv-drone TOR observer sigint "FO 3 confirms"')
    assert command == CheckCommand(
        "36UXB5303396604",
        "fpv-drone",
        "tor",
        (PidBasis.OBSERVER, PidBasis.SIGINT),
        "FO 3 confirms",
    )


def test_words_after_a_pid_basis_are_its_detail() -> None:
    command = parse_command("CHECK 51.3,35.1 atgm t-72 hostile-act fired on us")
    assert isinstance(command, CheckCommand)
    assert command.target_type == "t-72"
    assert command.pid == (PidBasis.HOSTILE_ACT,)
    assert command.pid_detail == "fired on us"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "holdfire commands"),
        ("   ", "holdfire commands"),
        ("FIRE 51.3,35.1 atgm", "unknown command 'FIRE'"),
        ("CHECK", "needs a target and a weapon"),
        ("CHECK 51.3,35.1", "needs a target and a weapon"),
        ("CHECK 51.3 35.1", "needs a target and a weapon"),
        ("CHECK 36U XB 53033 96604", "needs a target and a weapon"),
        ("CHECK 51.3,35.1 atgm t-72 bmp", "unexpected 'bmp'"),
        ('CHECK 51.3,35.1 atgm "unbalanced', "cannot read the command"),
    ],
)
def test_bad_commands_say_why_and_how(text: str, says: str) -> None:
    command = parse_command(text)
    assert isinstance(command, BadCommand)
    assert says in command.message
    assert HELP_TEXT in command.message


def clearance(reasons: int) -> Clearance:
    request = CheckRequest(lat=51.4, lon=35.6, weapon="155mm-howitzer")
    return Clearance(
        id="0123456789abcdef",
        verdict=Verdict.HOLD,
        reasons=tuple(
            Reason(
                ReasonCode.FRIENDLY_IN_DANGER_AREA,
                Verdict.HOLD,
                f"unit {n} is close",
                subject=f"u{n}",
            )
            for n in range(reasons)
        ),
        target=Target(lat=51.4, lon=35.6, mgrs="37UCB1234567890"),
        weapon="155mm-howitzer",
        impact_time=NOW,
        evaluated_at=NOW,
        valid_until=NOW + timedelta(seconds=60),
        picture_version=1,
        request=request,
    )


def test_a_reply_starts_with_the_verdict_and_lists_the_strictest_reasons() -> None:
    text = format_reply(clearance(5))
    lines = text.splitlines()
    assert lines[0] == "HOLD 37UCB1234567890 155mm-howitzer"
    assert lines[1] == "HOLD FRIENDLY_IN_DANGER_AREA: unit 0 is close"
    assert len([line for line in lines if "FRIENDLY_IN_DANGER_AREA" in line]) == 3
    assert "(+2 more reasons; check 01234567)" in lines
    assert lines[-1] == "valid until 07:01:00Z; check 01234567"


def test_a_reply_without_reasons() -> None:
    lines = format_reply(clearance(0)).splitlines()
    assert lines == ["HOLD 37UCB1234567890 155mm-howitzer", "valid until 07:01:00Z; check 01234567"]


# --- MSG, ACK, WILCO ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MSG BRAVO WAIT_FOR_US", MessageCommand("BRAVO", "WAIT_FOR_US")),
        ("msg group:blue wait_for_us", MessageCommand("group:blue", "WAIT_FOR_US")),
        (
            'MSG bravo WITHDRAWING_IN minutes=5 rally_grid=36UXB5303396604 "east of the barn"',
            MessageCommand(
                "bravo",
                "WITHDRAWING_IN",
                (("minutes", "5"), ("rally_grid", "36UXB5303396604")),
                "east of the barn",
            ),
        ),
        (
            'MSG "ALPHA 2" LOST_CONTACT_WITH unit="CHARLIE 3"',
            MessageCommand("ALPHA 2", "LOST_CONTACT_WITH", (("unit", "CHARLIE 3"),)),
        ),
        (
            'MSG pairing:p1 MOVING_IN Minutes=3 grid="36U XB 53033 96604"',
            MessageCommand(
                "pairing:p1", "MOVING_IN", (("minutes", "3"), ("grid", "36U XB 53033 96604"))
            ),
        ),
        # typographic quotes count; an apostrophe is a letter
        (
            "MSG kim WAIT_FOR_US \u201cм'ясо it's fine\u201d",
            MessageCommand("kim", "WAIT_FOR_US", (), "м'ясо it's fine"),
        ),
        ("MSG\u00a0kim\u2009WAIT_FOR_US", MessageCommand("kim", "WAIT_FOR_US")),
        ('MSG kim WAIT_FOR_US ""', MessageCommand("kim", "WAIT_FOR_US")),
    ],
)
def test_msg(text: str, expected: MessageCommand) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("MSG", "needs a recipient and a message id"),
        ("MSG bravo", "needs a recipient and a message id"),
        ("MSG bravo 5MINUTES", "is not a message id"),
        ("MSG bravo WAIT-FOR-US", "is not a message id"),
        ('MSG bravo WAIT_FOR_US "unbalanced', "is not closed"),
        ('MSG bravo WAIT_FOR_US minutes="5', "is not closed"),
        ("MSG bravo WAIT_FOR_US free text", "unexpected 'free'"),
        ("MSG bravo WAIT_FOR_US =5", "unexpected '=5'"),
        ("MSG bravo WAIT_FOR_US 9key=5", "unexpected '9key=5'"),
        ('MSG bravo WAIT_FOR_US "one" "two"', "one quoted free text"),
        ("MSG bravo MOUNTED pax=1 PAX=2", "pax is given twice"),
        (f"MSG bravo MOUNTED pax={'9' * (MAX_TEXT + 1)}", "over 500 characters"),
        (f'MSG bravo MOUNTED "{"x" * (MAX_TEXT + 1)}"', "over 500 characters"),
        (f"MSG {'b' * 129} MOUNTED", "recipient must be 1-128 characters"),
        ("MSG bravo MOUNTED " + " ".join(f"k{i}=1" for i in range(MAX_PARAMS + 1)), "more than"),
        ('MSG bravo MOUNTED "\x00"', "control characters"),
    ],
)
def test_bad_msg_says_why(text: str, says: str) -> None:
    command = parse_command(text)
    assert isinstance(command, BadCommand)
    assert says in command.message


def test_a_reply_never_echoes_a_huge_word() -> None:
    for text in ["X" * 100_000, f"MSG bravo WAIT_FOR_US {'y' * 100_000}", f"MSG b {'C' * 10_000}"]:
        command = parse_command(text)
        assert isinstance(command, BadCommand)
        assert len(command.message) < 1_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACK 1a2b3c4d", AckCommand("ACK", "1a2b3c4d")),
        ("wilco 1A2B3C4D", AckCommand("WILCO", "1A2B3C4D")),
        ("ACK [1a2b3c4d]", AckCommand("ACK", "1a2b3c4d")),
    ],
)
def test_ack(text: str, expected: AckCommand) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ACK", "takes one reference"),
        ("WILCO 1a2b3c4d thanks", "takes one reference"),
        ("ACK []", "must be 1-128 characters"),
        (f"ACK {'a' * 129}", "must be 1-128 characters"),
        ('ACK "1a2b', "cannot read the command"),
    ],
)
def test_bad_ack_says_why(text: str, says: str) -> None:
    command = parse_command(text)
    assert isinstance(command, BadCommand)
    assert says in command.message


def test_help_lists_msg_and_ack() -> None:
    assert "MSG" in HELP_TEXT and "ACK" in HELP_TEXT and "WILCO" in HELP_TEXT


def test_params_are_numbers_only_where_the_catalog_wants_numbers() -> None:
    catalog = load_catalog(None)
    moving = catalog.definition("MOVING_IN")
    typed = message_params(moving, [("minutes", "5"), ("bearing_deg", "270.5")])
    assert typed == {"minutes": 5, "bearing_deg": 270.5}
    assert message_params(moving, [("minutes", "soon")]) == {"minutes": "soon"}
    assert message_params(moving, [("minutes", "9" * 40)]) == {"minutes": "9" * 40}
    assert message_params(moving, [("minutes", "1e309")]) == {"minutes": "1e309"}
    # a callsign or a reference made of digits stays text
    assert message_params(catalog.definition("LOST_CONTACT_WITH"), [("unit", "2")]) == {"unit": "2"}
    assert message_params(catalog.definition("ACK"), [("ref", "12345678")]) == {"ref": "12345678"}
    # an unknown key is passed on for the catalog to refuse
    assert message_params(moving, [("speed", "3")]) == {"speed": "3"}


def delivery(**changes: object) -> Delivery:
    fields: dict[str, object] = {
        "id": "d" * 32,
        "message_id": "0123456789abcdef",
        "code": "WAIT_FOR_US",
        "recipient": "kim",
        "language": "ko",
        "text": "우리를 기다려라!",
        "text_en": "Wait for us.",
        "sent_at": NOW,
    }
    fields.update(changes)
    return Delivery(**fields)  # type: ignore[arg-type]


def test_a_delivery_as_chat() -> None:
    assert format_delivery(delivery(), "ALPHA").splitlines() == [
        "우리를 기다려라!",
        "Wait for us.",
        "[from ALPHA; ack: ACK 01234567]",
    ]
    english = delivery(language="en", text="Wait for us.")
    assert format_delivery(english) == "Wait for us.\n[ack: ACK 01234567]"
    fallback = delivery(language="en", text="[WAIT_FOR_US] Wait for us.", fallback=True)
    assert format_delivery(fallback).splitlines()[0] == "[WAIT_FOR_US] Wait for us."
    assert len(format_delivery(fallback).splitlines()) == 2
    assert format_delivery(delivery(ack_required=False)) == "우리를 기다려라!\nWait for us."
    assert format_delivery(delivery(attempts=3)).endswith("[sent 3 times; ack: ACK 01234567]")
