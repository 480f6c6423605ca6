"""`scm-bot incident …`: the whole logbook of an incident for the evaluation."""

from __future__ import annotations

import asyncio
import getpass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from core.i18n import t
from core.model import Language

incident_app = typer.Typer(
    help="Incidents: export the logbook for the evaluation.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


class Format(StrEnum):
    PDF = "pdf"
    MD = "md"
    JSON = "json"


class Unknown(Exception):
    """No incident by that id (or no region yet)."""

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params


async def export_logbook(db_url: str, ident: str, fmt: Format, lang: Language) -> tuple[str, bytes]:
    """The incident's public id and its logbook in `fmt`; the export is audited (who ran
    it, as the operating system knows them)."""
    from core.bt import logbook
    from core.bt.requests import find_incident
    from core.clock import SystemClock
    from core.model import Origin
    from core.timers import ManualTimerScheduler
    from core.tx import Core
    from storage.database import make_engine
    from storage.uow import SqlUnitOfWorkFactory

    engine = make_engine(db_url)
    try:
        async with SqlUnitOfWorkFactory(engine) as uows:
            core = Core(uows, SystemClock(), ManualTimerScheduler())
            async with core.transaction(Origin.CLI) as tx:
                if not tx.directory.people:
                    raise Unknown("cli.no_region")
                incident = await find_incident(tx, ident)
                if incident is None:
                    raise Unknown("cli.unknown_incident", id=ident)
                book = await logbook.build(tx, incident)
                if fmt is Format.PDF:
                    content = book.pdf(lang)
                elif fmt is Format.JSON:
                    content = book.as_json().encode()
                else:
                    content = book.markdown(lang).encode()
                await tx.audit(
                    f"cli:{_system_user()}", "log.exported", incident.public_id, format=fmt.value
                )
                return incident.public_id, content
    finally:
        await engine.dispose()


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor in the password file
        return "onbekend"


@incident_app.command("export")
def incident_export(
    incident: Annotated[str, typer.Argument(help="The incident: VRU-2026-0001, or 0001.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="pdf (PDF/A), md or json.")] = (
        Format.MD
    ),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write here. Default: md and json to stdout, pdf to logboek-<id>.pdf.",
        ),
    ] = None,
    language: Annotated[
        Language, typer.Option("--taal", "--language", help="nl or en.")
    ] = Language.NL,
) -> None:
    """Write the whole logbook of an incident: the alert, every page and answer,
    escalations, analyse versions and who read which, shares, the convening of teams and
    their attendance, decisions, actions and the closing, in time order."""
    from core.errors import StorageError
    from scm_bot.logs import setup_logging
    from scm_bot.settings import Settings
    from storage.database import migrate

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format, settings.secrets())
    try:
        migrate(settings.db_url)
    except StorageError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    try:
        public_id, content = asyncio.run(
            export_logbook(settings.db_url, incident, format, language)
        )
    except Unknown as unknown:
        typer.echo(t(language, unknown.key, **unknown.params), err=True)
        raise typer.Exit(1) from None
    if output is None and format is Format.PDF:
        output = Path(f"logboek-{public_id}.pdf")
    if output is None:
        typer.echo(content.decode(), nl=False)
        return
    try:
        output.write_bytes(content)
    except OSError as error:
        typer.echo(t(language, "cli.cannot_write", file=output, error=error.strerror), err=True)
        raise typer.Exit(2) from None
    typer.echo(t(language, "cli.exported", id=public_id, file=output), err=True)
