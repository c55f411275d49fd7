"""`holdfire serve --config FILE` and HOLDFIRE_<OPTION>: every option of serve, whatever options
it has now or gets later, can come from the file and from the environment, with the command line
over the environment over the file over the default.
"""

from __future__ import annotations

import enum
import json
import os
import typing
from pathlib import Path
from typing import Any

import pytest
import typer

from holdfire.cli import app

SERVE = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
OPTIONS = [p for p in SERVE.params if p.param_type_name == "option" and p.name != "config_file"]


def resolve(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """What serve would run with (its body is not run: nothing listens)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("HOLDFIRE_")]:
            patch.delenv(name)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        return dict(SERVE.make_context("serve", list(args)).params)


DEFAULTS = resolve([])


def sample(option: Any) -> tuple[list[str], Any, str]:
    """A value unlike the default: as flags, as a TOML value, as an environment value."""
    flag = option.opts[0]
    if option.is_flag:  # none yet: for the flags serve gets later
        on = not DEFAULTS[option.name]
        if option.secondary_opts:
            return [flag if on else option.secondary_opts[0]], on, "true" if on else "false"
        return [flag], True, "true"
    kind = option.type_descriptor.annotation
    if typing.get_origin(kind) is list:
        (kind,) = typing.get_args(kind)
    value: Any
    if kind is int:
        value = 7
    elif kind is float:
        value = 2.5
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        value = next(m.value for m in reversed(kind) if m.value != DEFAULTS[option.name])
    else:
        value = f"sample-{option.name}"
    if option.multiple:
        values = [value, f"{value}-b"]
        return [a for v in values for a in (flag, str(v))], values, " ".join(values)
    return [flag, str(value)], value, str(value)


def env_name(option: Any) -> str:
    return f"HOLDFIRE_{option.name.upper()}"


def toml(settings: dict[str, Any]) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())


def test_serve_has_options_to_cover() -> None:
    names = {o.name for o in OPTIONS}
    assert {"data", "db", "http", "cot_tcp", "mqtt_topic", "speed", "nats"} <= names


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.opts[0])
def test_every_option_comes_from_the_file_and_from_the_environment(
    option: Any, tmp_path: Path
) -> None:
    flags, in_file, in_env = sample(option)
    from_flag = resolve(flags)[option.name]
    assert from_flag != DEFAULTS[option.name]
    config = tmp_path / "holdfire.toml"
    config.write_text(toml({option.opts[0].removeprefix("--"): in_file}), encoding="utf-8")
    assert resolve(["--config", str(config)])[option.name] == from_flag
    assert resolve([], {env_name(option): in_env})[option.name] == from_flag
    underscored = toml({option.name: in_file})
    config.write_text(underscored, encoding="utf-8")
    assert resolve(["--config", str(config)])[option.name] == from_flag


def test_the_command_line_wins_over_the_environment_which_wins_over_the_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "holdfire.toml"
    config.write_text('http = "127.0.0.1:1"\ncot-tcp = "127.0.0.1:2"\nspeed = 3.0\n')
    env = {"HOLDFIRE_HTTP": "127.0.0.1:10", "HOLDFIRE_COT_TCP": "127.0.0.1:20"}
    got = resolve(["--config", str(config), "--http", "127.0.0.1:100"], env)
    assert (got["http"], got["cot_tcp"], got["speed"]) == ("127.0.0.1:100", "127.0.0.1:20", 3.0)
    assert got["cot_tls"] == DEFAULTS["cot_tls"]
    from_env_file = resolve([], {"HOLDFIRE_CONFIG": str(config)})
    assert from_env_file["http"] == "127.0.0.1:1"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('htp = "127.0.0.1:1"\n', "'htp' is not an option of holdfire serve (known: cluster,"),
        ("speed = [1\n", "not TOML"),
        ('speed = "fast"\n', "'--speed'"),
        ("[cot-tcp]\nhost = 1\n", "'cot-tcp' must be a value, not a table"),
    ],
)
def test_a_bad_file_is_a_usage_error_naming_what_is_wrong(
    text: str, error: str, tmp_path: Path
) -> None:
    config = tmp_path / "holdfire.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(typer.BadParameter) as caught:
        resolve(["--config", str(config)])
    assert error in caught.value.format_message() + str(caught.value.param_hint or "")


def test_the_shipped_example_file_is_read() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "holdfire.toml"
    got = resolve(["--config", str(example)])
    assert (got["http"], got["cot_tcp"], got["cot_tls"]) == (
        "127.0.0.1:8080",
        "off",
        "0.0.0.0:8089",
    )
