"""GeoChat commands to holdfire and the replies (holdfire.codecs.chat_commands)."""

from datetime import UTC, datetime, timedelta

import pytest

from holdfire.codecs.chat_commands import (
    HELP_TEXT,
    BadCommand,
    CheckCommand,
    HelpCommand,
    format_reply,
    parse_command,
)
from holdfire.domain.checks import (
    CheckRequest,
    Clearance,
    PidBasis,
    Reason,
    ReasonCode,
    Target,
    Verdict,
)

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
