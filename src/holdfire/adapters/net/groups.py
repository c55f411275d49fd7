"""Server-side groups, as TAK's IN/OUT groups: who may see whom.

Read from `DATA_DIR/groups.toml`; without the file every client shares the anonymous group:

    # TLS clients by certificate name -> the groups they belong to
    [clients]
    alpha-lead = ["blue", "fires"]
    medic-3 = ["blue"]

    [default]
    groups = ["__ANON__"]   # plain TCP and UDP clients, and certificates not listed

Groups decide routing only; identity (which uid a client may report as its own) comes from the
certificate alone.
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ANONYMOUS = "__ANON__"


class GroupsError(ValueError):
    """groups.toml cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    by_name: dict[str, frozenset[str]] = field(default_factory=dict)
    default: frozenset[str] = frozenset({ANONYMOUS})

    def groups_for(self, certificate_name: str | None) -> frozenset[str]:
        if certificate_name is None:
            return self.default
        return self.by_name.get(certificate_name, self.default)


def load_groups(data_dir: Path) -> GroupPolicy:
    path = data_dir / "groups.toml"
    if not path.exists():
        return GroupPolicy()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GroupsError(f"{path}: not readable: {exc}") from None
    unknown = sorted(set(document) - {"clients", "default"})
    if unknown:
        raise GroupsError(f"{path}: unknown section(s) {', '.join(unknown)}")
    clients = document.get("clients", {})
    if not isinstance(clients, dict):
        raise GroupsError(f"{path}: [clients] must be a table of name = [groups]")
    by_name = {name: _groups(path, f"clients.{name}", value) for name, value in clients.items()}
    default_table = document.get("default", {})
    if not isinstance(default_table, dict) or set(default_table) - {"groups"}:
        raise GroupsError(f"{path}: [default] takes only groups = [...]")
    default = _groups(path, "default.groups", default_table.get("groups", [ANONYMOUS]))
    return GroupPolicy(by_name, default)


def _groups(path: Path, where: str, value: object) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise GroupsError(f"{path}: {where}: must be a non-empty list of group names")
    names = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise GroupsError(f"{path}: {where}: group names must be non-empty strings")
        names.append(item.strip())
    return frozenset(names)
