"""The Typer app and what every command shares: --version, --debug, error handling.

Command modules (`instacap.cli.*`) register on `app`; they import the library inside the
command function so that `instacap --help` never imports torch.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from instacap import __version__
from instacap.errors import InstacapError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class _Group(TyperGroup):
    """Turns library errors into one red line and exit 1; --debug shows the traceback instead."""

    def invoke(self, ctx: Any) -> Any:
        from instacap.cli import render

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            if _debug(ctx):
                raise
            render.error(
                "Interrupted. Everything finished so far is saved; rerun the command to resume."
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except InstacapError as exc:
            if _debug(ctx):
                raise
            render.error(str(exc))
            raise typer.Exit(EXIT_ERROR) from None
        except (OSError, sqlite3.Error) as exc:
            if _debug(ctx):
                raise
            from instacap import files, paths

            where = getattr(exc, "filename", None) or paths.home()
            if files.is_disk_full(exc, where):  # one the library did not name
                render.error(str(files.disk_full(where)))
                raise typer.Exit(EXIT_ERROR) from None
            # OSError's own text repeats errno; its strerror plus the file name reads better.
            what = getattr(exc, "strerror", None) or str(exc)
            filename = getattr(exc, "filename", None)
            where = f": {filename}" if filename else ""
            render.error(
                f"{what}{where}. Check the path, permissions and free disk space; --debug shows details."
            )
            raise typer.Exit(EXIT_ERROR) from None


def _debug(ctx: Any) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug"))


app = typer.Typer(
    cls=_Group,
    name="instacap",
    help=(
        "Learn to write Instagram captions from public accounts, then caption your own photos.\n\n"
        "Typical use: instacap scrape natgeo nasa → instacap prep → instacap train → "
        "instacap caption photo.jpg --n 5.  Try it offline first: instacap demo."
    ),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"instacap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for errors.")
    ] = False,
) -> None:
    """Learn to write Instagram captions from public accounts, then caption your own photos."""
