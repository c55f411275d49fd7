"""Reference tables: weapons, mobility classes and equipment, each row with its provenance."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from holdfire.domain.errors import DomainError
from holdfire.domain.numbers import require_distance


class Mobility(StrEnum):
    DISMOUNTED = "dismounted"
    WHEELED = "wheeled"
    TRACKED = "tracked"
    TOWED = "towed"
    STATIC = "static"
    AIR = "air"
    UNKNOWN = "unknown"


def parse_mobility(text: str | None) -> Mobility:
    """Anything missing or unrecognised is `unknown`, the worst case."""
    try:
        return Mobility((text or "").strip().lower())
    except ValueError:
        return Mobility.UNKNOWN


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a value comes from: V checked, R recalled, E estimate; plus the source named."""

    mark: str
    source: str

    def __post_init__(self) -> None:
        if self.mark not in ("V", "R", "E"):
            raise DomainError("provenance.mark", f"must be V, R or E, got {self.mark!r}")


@dataclass(frozen=True, slots=True)
class Weapon:
    id: str
    name: str
    red10_m: float  # 10 % probability of incapacitation
    red01_m: float  # 0.1 % probability of incapacitation
    danger_close_m: float
    cep_m: float
    time_of_flight_s: float  # longest flight, widens the window measures are tested over
    max_range_m: float  # bounds how far a line between firer and target can be
    provenance: Provenance

    def __post_init__(self) -> None:
        for name in ("red10_m", "red01_m", "danger_close_m", "cep_m", "time_of_flight_s"):
            require_distance(f"weapon {self.id}.{name}", getattr(self, name))
        require_distance(f"weapon {self.id}.max_range_m", self.max_range_m)
        if self.red10_m > self.red01_m:
            raise DomainError(f"weapon {self.id}.red10_m", "must not exceed red01_m")


@dataclass(frozen=True, slots=True)
class MobilityClass:
    mobility: Mobility
    v_max_mps: float
    stale_after_s: float
    lost_after_s: float
    r_cap_m: float  # bounds display and indexing only, never the check
    default_ce_m: float  # 95 % error assumed when a report's error is unknown
    provenance: Provenance

    def __post_init__(self) -> None:
        for name in ("v_max_mps", "stale_after_s", "lost_after_s", "r_cap_m", "default_ce_m"):
            require_distance(f"mobility {self.mobility}.{name}", getattr(self, name))
        if self.lost_after_s < self.stale_after_s:
            raise DomainError(f"mobility {self.mobility}.lost_after_s", "must be >= stale_after_s")


@dataclass(frozen=True, slots=True)
class Equipment:
    id: str
    name: str
    family: str
    fielded_by: tuple[str, ...]  # ISO 3166 alpha-3 nations
    provenance: Provenance
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Tables:
    """The three tables a check needs, validated as a set."""

    weapons: Mapping[str, Weapon]
    mobility: Mapping[Mobility, MobilityClass]
    equipment: Mapping[str, Equipment]

    def __post_init__(self) -> None:
        missing = [m.value for m in Mobility if m not in self.mobility]
        if missing:
            raise DomainError("mobility", f"every class needs a row; missing {', '.join(missing)}")
        if not self.weapons:
            raise DomainError("weapons", "the weapon table is empty")

    def mobility_class(self, mobility: Mobility) -> MobilityClass:
        return self.mobility[mobility]

    def equipment_family(self, name: str) -> str | None:
        """A target type may name an equipment id or a family; returns the family or None."""
        key = name.strip().lower()
        if key in self.equipment:
            return self.equipment[key].family
        if any(e.family == key for e in self.equipment.values()):
            return key
        return None

    def family_members(self, family: str) -> Iterable[Equipment]:
        return (e for e in self.equipment.values() if e.family == family)

    def worst_weapon(self) -> Weapon:
        """The most demanding profile in the table: used when a weapon is unknown."""
        ws = list(self.weapons.values())
        return Weapon(
            id="unknown",
            name="unknown weapon (worst case of the table)",
            red10_m=max(w.red10_m for w in ws),
            red01_m=max(w.red01_m for w in ws),
            danger_close_m=max(w.danger_close_m for w in ws),
            cep_m=max(w.cep_m for w in ws),
            time_of_flight_s=max(w.time_of_flight_s for w in ws),
            max_range_m=max(w.max_range_m for w in ws),
            provenance=Provenance("E", "maximum of every weapon in the table"),
        )
