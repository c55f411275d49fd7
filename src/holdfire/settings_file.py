"""A command's options from a TOML file and from the environment (`holdfire serve --config`).

Precedence, option by option: the command line, then the environment, then the file, then the
option's default. The environment variable of an option is ``HOLDFIRE_`` and its name in
capitals, ``-`` as ``_`` (``--cot-tcp`` is ``HOLDFIRE_COT_TCP``; a repeatable option takes its
values separated by spaces). In the file an option is a top-level key, spelt as its flag without
the dashes (``cot-tcp = "0.0.0.0:8087"``) or with ``_``; a repeatable option takes an array.

Nothing here names the options: click resolves every option of the command the same way (the
file becomes the context's ``default_map``, the environment comes in through
``auto_envvar_prefix``), so an option added later is covered without a line more.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Final

import typer

ENV_PREFIX: Final = "HOLDFIRE"
CONTEXT_SETTINGS: Final[dict[str, Any]] = {"auto_envvar_prefix": ENV_PREFIX}


def keys_of(ctx: typer.Context, skip: str) -> dict[str, str]:
    """Every spelling a file may use for an option of the context's command -> its name."""
    keys: dict[str, str] = {}
    for param in ctx.command.params:
        if param.param_type_name == "option" and param.name is not None and param.name != skip:
            keys[param.name] = param.name
            for flag in param.opts + param.secondary_opts:
                if flag.startswith("--"):
                    keys[flag[2:]] = keys[flag[2:].replace("-", "_")] = param.name
    return keys


def _load(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Eager: runs before every other option is resolved, so the file's values become their
    defaults (below the command line and the environment)."""
    if value is None:
        return None
    try:
        raw = tomllib.loads(Path(value).read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(f"{value}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"{value}: not TOML ({exc})") from None
    keys = keys_of(ctx, skip=param.name or "")
    defaults: dict[str, Any] = {}
    for key, setting in raw.items():
        name = keys.get(key)
        if name is None:
            known = ", ".join(sorted(k for k in keys if "_" not in k))
            raise typer.BadParameter(
                f"{value}: {key!r} is not an option of holdfire {ctx.info_name} (known: {known})"
            )
        if isinstance(setting, dict):
            raise typer.BadParameter(f"{value}: {key!r} must be a value, not a table")
        defaults[name] = setting
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar=f"{ENV_PREFIX}_CONFIG",
        metavar="FILE",
        is_eager=True,
        callback=_load,
        help='A TOML file of this command\'s options (cot-tcp = "0.0.0.0:8087"). Every option '
        "can also come from the environment, HOLDFIRE_<OPTION> (HOLDFIRE_COT_TCP); the command "
        "line wins over the environment, which wins over the file.",
    ),
]
