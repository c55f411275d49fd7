"""The readable form of a run (rich): the timeline as it happens, then the expectations table.

Built from Text pieces, never markup: callsigns, message texts and details come from scenario
files and the catalog and must print as they are.
"""

from rich.console import Console
from rich.table import Table
from rich.text import Text

from holdfire.sim.model import Scenario, format_offset
from holdfire.sim.runner import Entry, RunResult

VERDICT_STYLE = {
    "HOLD": "bold white on red",
    "DANGER_CLOSE": "bold black on yellow",
    "COORDINATE": "bold black on cyan",
    "NO_KNOWN_CONFLICT": "bold",
}
KIND_STYLE = {
    "reports": "dim",
    "check": "bold",
    "message": "green",
    "delivery": "cyan",
    "alert": "bold magenta",
    "action": "yellow",
    "error": "bold red",
}


class TimelinePrinter:
    """Prints entries as they happen; report lines only when asked (they are most of them)."""

    def __init__(self, console: Console, *, reports: bool = True) -> None:
        self.console = console
        self.reports = reports

    def __call__(self, entry: Entry) -> None:
        if entry.kind == "reports" and not self.reports:
            return
        label = (entry.kind, KIND_STYLE.get(entry.kind, ""))
        if entry.verdict is not None:
            label = (entry.verdict, VERDICT_STYLE.get(entry.verdict, ""))
        self.console.print(
            Text.assemble(
                (format_offset(entry.t_s), "dim"),
                "  ",
                (f"{label[0]:<17}", label[1]),
                " ",
                (entry.text, KIND_STYLE.get(entry.kind, "")),
            )
        )


def print_header(console: Console, scenario: Scenario, mode: str) -> None:
    console.print(Text(f"{scenario.name}: {scenario.title}", style="bold underline"))
    if scenario.description:
        console.print(Text(scenario.description, style="italic"))
    console.print(
        Text(
            f"{len(scenario.units)} units, {len(scenario.actions)} actions, "
            f"{scenario.report_count()} reports over {format_offset(scenario.duration_s)}; "
            f"{mode}",
            style="dim",
        )
    )


def print_result(console: Console, result: RunResult) -> None:
    table = Table(title=f"{result.scenario.name}: expectations", title_justify="left")
    table.add_column("where", style="dim", no_wrap=True)
    table.add_column("expectation")
    table.add_column("result", no_wrap=True)
    table.add_column("detail")
    for judged in result.judged:
        table.add_row(
            Text(judged.expectation.where),
            Text(judged.expectation.label),
            Text("pass", style="bold green") if judged.passed else Text("FAIL", style="bold red"),
            Text(judged.detail),
        )
    console.print(table)
    for error in result.errors:
        console.print(Text(f"error: {error}", style="bold red"))
    passed = sum(j.passed for j in result.judged)
    verdict = (
        Text(" PASS ", "bold white on green")
        if result.passed
        else Text(" FAIL ", "bold white on red")
    )
    console.print(
        Text.assemble(
            verdict,
            f"  {passed}/{len(result.judged)} expectations held, {len(result.errors)} errors; "
            f"{result.reports} reports, {len(result.checks)} checks, {len(result.alerts)} alerts, "
            f"{len(result.deliveries)} deliveries in {result.wall_s:.2f} s ({result.mode})",
        )
    )
