"""`scm-bot roster …`: importing piket rosters from an .ics or CSV file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from core.i18n import t
from core.model import Language

roster_app = typer.Typer(
    help="Piket rosters: import explicit shifts from an .ics or CSV file.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@roster_app.command("import")
def roster_import(
    file: Annotated[Path, typer.Argument(help="An .ics or CSV roster file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would change.")
    ] = False,
) -> None:
    """Import shifts: all or nothing; shifts already there are left alone.

    CSV columns: functie,scope,persoon,backup,van,tot (local times like 2026-12-07 08:00;
    scope and backup may be empty). An .ics as `/rooster ical` writes it, or with SUMMARY
    "<functie>: <persoon>".
    """
    from core.clock import SystemClock
    from core.model import Origin
    from core.roster.importing import ImportReport, import_shifts, parse_roster_file
    from core.timers import ManualTimerScheduler
    from core.tx import Core
    from scm_bot.settings import Settings
    from storage.database import make_engine, migrate
    from storage.uow import SqlUnitOfWorkFactory

    try:
        text = file.read_text("utf-8-sig")
    except OSError as error:
        typer.echo(t(Language.NL, "cli.cannot_read", file=file, error=error.strerror), err=True)
        raise typer.Exit(2) from None
    settings = Settings()
    migrate(settings.db_url)

    class Refused(Exception):
        def __init__(self, problems: list[str]) -> None:
            self.problems = problems

    async def go() -> ImportReport:
        engine = make_engine(settings.db_url)
        try:
            async with SqlUnitOfWorkFactory(engine) as uows:
                core = Core(uows, SystemClock(), ManualTimerScheduler())
                async with core.transaction(Origin.CLI) as tx:
                    if not tx.directory.people:
                        raise Refused([t(Language.NL, "cli.no_region_for_roster")])
                    parsed = parse_roster_file(
                        file.name, text, tx.directory, await tx.uow.roster.settings()
                    )
                    if parsed.problems:
                        raise Refused(parsed.problems)
                    report = await import_shifts(tx, parsed.shifts, dry_run=dry_run)
                    if report.problems:
                        raise Refused(report.problems)  # rolls back: nothing is imported
                    return report
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(go())
    except Refused as refused:
        typer.echo(t(Language.NL, "cli.problems", file=file, count=len(refused.problems)))
        for problem in refused.problems:
            typer.echo(f"  - {problem}")
        raise typer.Exit(1) from None
    key = "cli.shifts_would_add" if dry_run else "cli.shifts_added"
    typer.echo(t(Language.NL, key, count=len(report.added), unchanged=len(report.unchanged)))
    for line in report.added:
        typer.echo(f"  + {line}")
    if dry_run:
        typer.echo(t(Language.NL, "cli.dry_run"))
