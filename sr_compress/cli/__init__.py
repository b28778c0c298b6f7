"""``sr-compress``: thin click commands that parse options and hand over to library code.

Each verb lives in its own module ``sr_compress/cli/<verb>.py`` exposing ``command``; the group
imports a verb's module only when that verb runs, so ``sr-compress --help`` stays fast and a
broken optional dependency cannot break unrelated verbs.
"""

from __future__ import annotations

import difflib
import importlib
import sys

import click

from ..errors import SRCompressError

# verb -> module (relative to this package). Only verbs that work are listed.
VERBS: dict[str, str] = {
    "bench": "bench",
    "compare": "compare",
    "distill": "distill",
    "distill-data": "distill_data",
    "eval": "eval_cmd",
    "export": "export",
    "gate": "gate",
    "info": "info",
    "pipeline": "pipeline",
    "prune": "prune",
    "quantize": "quantize",
    "report": "report",
    "train": "train",
    "upscale": "upscale",
    "validate": "validate",
    "zoo": "zoo",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = VERBS.get(cmd_name)
        if module is None:
            return None
        return importlib.import_module(f"{__name__}.{module}").command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                              list[str]]:
        name = args[0] if args else ""
        if args and name not in VERBS and not name.startswith("-"):
            raise click.UsageError(f"no such command '{name}'; {suggest_verb(name)}", ctx)
        return super().resolve_command(ctx, args)


def suggest_verb(name: str) -> str:
    """'did you mean ...' for a mistyped verb (closest by spelling, or a verb it starts with)."""
    # a verb the word starts with (evaluate -> eval) beats one that is merely spelt alike (validate)
    close = sorted((v for v in VERBS if name.startswith(v) or v.startswith(name)), key=len)
    close += [v for v in difflib.get_close_matches(name, VERBS, n=2, cutoff=0.6) if v not in close]
    if close:
        return "did you mean " + " or ".join(f"'{v}'" for v in close[:2]) + "?"
    return "commands: " + ", ".join(sorted(VERBS))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="sr-compress")
def cli() -> None:
    """Distill, export, validate, gate and serve compact super-resolution models."""


def run_cli(group: click.Command, argv: list[str] | None = None) -> int:
    """Run a click command, turning our errors into one line on stderr and an exit code."""
    try:
        group.main(args=argv, prog_name=None, standalone_mode=False)
    except SRCompressError as err:
        click.echo(f"error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


def main(argv: list[str] | None = None) -> None:
    sys.exit(run_cli(cli, argv))
