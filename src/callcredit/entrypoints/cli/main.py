"""The ``callcredit`` command. Each group of commands lives in its own
module and registers itself here; this module owns option parsing shared by
all of them and turns domain errors into exit codes (1 refused, 2 bad usage)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

from callcredit.bootstrap import App, bootstrap
from callcredit.config import load_settings
from callcredit.domain.errors import CallcreditError, InvalidInput

app = typer.Typer(
    name="callcredit",
    help="Prepaid calling credit for cloud business phone systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

_state: dict[str, object] = {}


@app.callback()
def _main(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL; overrides CALLCREDIT_DATABASE_URL.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Prepaid calling credit for cloud business phone systems."""
    _state["database_url"] = database_url


def get_app() -> App:
    """The application object for this command, built once."""
    built = _state.get("app")
    if isinstance(built, App):
        return built
    settings = load_settings(database_url=_state.get("database_url"))
    built = bootstrap(settings)
    _state["app"] = built
    return built


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` to stderr and return the Exit to raise."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _register() -> None:
    from callcredit.entrypoints.cli import commands

    modules: list[Callable[[typer.Typer], None]] = [commands.register]
    for name in ("rating", "charging", "billing", "serving", "demo"):
        try:
            module = __import__(f"callcredit.entrypoints.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"callcredit.entrypoints.cli.{name}":
                raise
            continue
        modules.append(module.register)
    for register in modules:
        register(app)


_register()


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except InvalidInput as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(2)
    except CallcreditError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(1)
    except OperationalError as exc:
        err_console.print(f"error: the database cannot be used: {exc.orig}", markup=False)
        sys.exit(1)
    finally:
        built = _state.get("app")
        if isinstance(built, App):
            built.close()
