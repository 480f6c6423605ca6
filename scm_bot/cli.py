"""The `scm-bot` command line."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from core.errors import RegionFileError, StorageError
from core.i18n import fmt_datetime, t
from core.model import Language
from core.region.file import dump_region, parse_region
from scm_bot.incident_cli import incident_app
from scm_bot.logs import setup_logging
from scm_bot.roster_cli import roster_app
from scm_bot.settings import Settings

app = typer.Typer(
    help="scm-bot: on-call alerting for Dutch safety regions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
region_app = typer.Typer(
    help="Import, export and validate the region file.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(region_app, name="region")
person_app = typer.Typer(
    help="People: link their chat accounts.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(person_app, name="person")
app.add_typer(roster_app, name="roster")
app.add_typer(incident_app, name="incident")


def _setup_logging(settings: Settings) -> None:
    setup_logging(settings.log_level, settings.log_format, settings.secrets())


def _settings() -> Settings:
    """The settings; a bad one ends the command with a line per problem, naming it."""
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part).upper() for part in problem["loc"])
            message = problem["msg"].removeprefix("Value error, ")
            typer.echo(f"{where}: {message}" if where else message, err=True)
        raise typer.Exit(2) from None
    _setup_logging(settings)
    return settings


def _migrate(db_url: str) -> None:
    """Bring the schema up to date; a database that cannot be written ends the command
    with one line that names it (no traceback)."""
    from storage.database import migrate as do_migrate

    try:
        do_migrate(db_url)
    except StorageError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    _migrate(_settings().db_url)


@app.command()
def run() -> None:
    """Run the bot. Without Telegram or Slack settings: the interactive console."""
    from core.analyse.form import FormFileError, load_form
    from scm_bot.runtime import run_bot

    settings = _settings()
    if settings.analyse_form is not None:
        # Checked before anything starts: a broken form is one line naming the file.
        try:
            load_form(settings.analyse_form)
        except FormFileError as error:
            typer.echo(f"ANALYSE_FORM {error}", err=True)
            raise typer.Exit(1) from None
    try:
        code = asyncio.run(run_bot(settings))  # migrates first
    except StorageError as error:
        typer.echo(str(error), err=True)
        code = 1
    sys.exit(code)


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
) -> None:
    """Write the whole database to FILE, also while the bot runs (SQLite: an online copy;
    PostgreSQL: pg_dump in its custom format)."""
    from scm_bot.backup import BackupError, MissingTool
    from scm_bot.backup import backup as do_backup

    try:
        do_backup(_settings().db_url, file)
    except MissingTool as missing:
        typer.echo(t(Language.NL, "cli.tool_missing", tool=missing.tool), err=True)
        typer.echo(f"  {missing.command}", err=True)
        raise typer.Exit(1) from None
    except (BackupError, OSError) as error:
        typer.echo(t(Language.NL, "cli.backup_failed", error=error), err=True)
        raise typer.Exit(1) from None
    typer.echo(t(Language.NL, "cli.backup_done", file=file))


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A backup written by `scm-bot backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the whole database with the backup in FILE (asks first). Stop every
    scm-bot instance first: on SQLite a running bot makes it refuse."""
    from scm_bot.backup import BackupError, BotRunning, MissingTool, check_restorable
    from scm_bot.backup import restore as do_restore

    db_url = _settings().db_url
    try:
        check_restorable(db_url, file)
        database = make_url(db_url).render_as_string(hide_password=True)
        if not yes and not typer.confirm(
            t(Language.NL, "cli.restore_confirm", file=file, database=database)
        ):
            typer.echo(t(Language.NL, "cli.restore_cancelled"))
            raise typer.Exit(1)
        do_restore(db_url, file)
    except BotRunning as running:
        typer.echo(t(Language.NL, "cli.restore_bot_running", lock=running), err=True)
        raise typer.Exit(1) from None
    except MissingTool as missing:
        typer.echo(t(Language.NL, "cli.tool_missing", tool=missing.tool), err=True)
        typer.echo(f"  {missing.command}", err=True)
        raise typer.Exit(1) from None
    except (BackupError, OSError) as error:
        typer.echo(t(Language.NL, "cli.restore_failed", file=file, error=error), err=True)
        raise typer.Exit(1) from None
    typer.echo(t(Language.NL, "cli.restore_done", file=file))


@app.command()
def demo() -> None:
    """Play the whole alarm scenario on a throwaway database and print the transcript."""
    from scm_bot.demo import play

    _setup_logging(Settings(log_level="WARNING"))
    asyncio.run(play(sys.stdout))


def _read(file: Path) -> str:
    try:
        return file.read_text("utf-8")
    except OSError as error:
        typer.echo(t(Language.NL, "cli.cannot_read", file=file, error=error.strerror), err=True)
        raise typer.Exit(2) from None


def _parse_or_exit(file: Path):  # type: ignore[no-untyped-def]
    try:
        return parse_region(_read(file))
    except RegionFileError as error:
        typer.echo(t(Language.NL, "cli.problems", file=file, count=len(error.problems)), err=True)
        for problem in error.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1) from None


@region_app.command("validate")
def region_validate(file: Annotated[Path, typer.Argument(help="The region YAML file.")]) -> None:
    """Check a region file without importing it."""
    doc = _parse_or_exit(file)
    gemeenten, people = len(doc.gemeenten), len(doc.people)
    typer.echo(t(Language.NL, "cli.region_valid", file=file, gemeenten=gemeenten, people=people))


@region_app.command("import")
def region_import(file: Annotated[Path, typer.Argument(help="The region YAML file.")]) -> None:
    """Import (upsert) the region file: all or nothing; importing twice changes nothing.
    Every import is audited with who ran it (the system user) and what it changed."""
    from core.model import Origin
    from storage.database import make_engine
    from storage.region import import_region

    settings = _settings()
    doc = _parse_or_exit(file)
    _migrate(settings.db_url)

    async def go() -> None:
        engine = make_engine(settings.db_url)
        try:
            report = await import_region(
                engine, doc, by=f"cli:{_system_user()}", origin=Origin.CLI, source=str(file)
            )
        finally:
            await engine.dispose()
        if not report.changed:
            typer.echo(t(Language.NL, "cli.import_unchanged"))
            return
        counts = {
            "created": len(report.created),
            "updated": len(report.updated),
            "deactivated": len(report.deactivated),
        }
        typer.echo(t(Language.NL, "cli.imported", **counts))
        for line in report.created + report.updated + report.deactivated:
            typer.echo(f"  {line}")

    try:
        asyncio.run(go())
    except ValueError as error:
        typer.echo(t(Language.NL, "cli.not_imported", error=error), err=True)
        raise typer.Exit(1) from None


def _system_user() -> str:
    """Who runs this command, as the operating system knows them."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor in the password file
        return "onbekend"


@region_app.command("export")
def region_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write the current region back as a region file."""
    from storage.database import make_engine
    from storage.region import export_region

    settings = _settings()
    _migrate(settings.db_url)

    async def go() -> str | None:
        engine = make_engine(settings.db_url)
        try:
            doc = await export_region(engine)
        finally:
            await engine.dispose()
        return dump_region(doc) if doc else None

    text = asyncio.run(go())
    if text is None:
        typer.echo(t(Language.NL, "cli.no_region"), err=True)
        raise typer.Exit(1)
    if output:
        output.write_text(text, "utf-8")
    else:
        typer.echo(text, nl=False)


@person_app.command("invite")
def person_invite(
    person: Annotated[str, typer.Argument(help="The person's key from the region file.")],
) -> None:
    """Print a one-time link code, a Telegram deep link and the Slack instruction."""
    from datetime import timedelta

    from core.clock import SystemClock
    from core.model import Origin
    from core.region.linking import create_invite
    from core.timers import ManualTimerScheduler
    from core.tx import Core
    from storage.database import make_engine
    from storage.uow import SqlUnitOfWorkFactory

    settings = _settings()
    _migrate(settings.db_url)

    async def go() -> str | None:
        engine = make_engine(settings.db_url)
        try:
            async with SqlUnitOfWorkFactory(engine) as uows:
                core = Core(uows, SystemClock(), ManualTimerScheduler())
                async with core.transaction(Origin.CLI) as tx:
                    found = tx.directory.person_by_key(person)
                    if found is None:
                        return None
                    hours = timedelta(hours=settings.link_code_hours)
                    invite = await create_invite(tx, found, hours)
                    tz = tx.directory.region.timezone
            username = settings.telegram_bot_username or await _telegram_username(settings)
            link = f"https://t.me/{username}?start={invite.code}" if username else None
            code = invite.code
            expires = fmt_datetime(invite.expires_at, tz, Language.NL)
            lines = [
                t(Language.NL, "cli.invite.code", name=found.name, key=found.key, code=code),
                t(Language.NL, "cli.invite.valid", expires=expires),
                t(Language.NL, "cli.invite.telegram_link", link=link)
                if link
                else t(Language.NL, "cli.invite.telegram_start", code=code),
                t(Language.NL, "cli.invite.slack", code=code),
            ]
            return "\n".join(lines)
        finally:
            await engine.dispose()

    text = asyncio.run(go())
    if text is None:
        typer.echo(t(Language.NL, "cli.unknown_person", person=person), err=True)
        raise typer.Exit(1)
    typer.echo(text)


async def _telegram_username(settings: Settings) -> str | None:
    """Ask Telegram for the bot's username when a token is configured."""
    if settings.telegram_bot_token is None:
        return None
    from telegram import Bot

    bot = Bot(settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_base_url)
    async with bot:
        return bot.username


def main() -> None:
    app()
