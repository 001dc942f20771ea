"""`ecps history ID`: every step of an activation, oldest first, a page at a time."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from adapters.cli.context import Database, Json, StateDirOpt, env
from adapters.cli.flow import ActivationId
from adapters.cli.output import steps_table


def history(
    activation_id: ActivationId,
    after: Annotated[int, typer.Option(min=0, help="Show the steps numbered after this one.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many steps.")] = 100,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Show an activation's steps, oldest first (`--after` the last number shown for more).

    Example: [bold]ecps history <ID> --after 100[/]
    """
    e = env(database, state_dir, json, read_only=True)
    page = e.service().history(activation_id, after=after, limit=limit)

    def render(c: Console) -> None:
        table = steps_table(page.steps, title=f"steps {page.after + 1}-{page.after + len(page.steps)} "
                                              f"of {page.total}", numbered=True, first=page.after + 1)
        c.print(table)
        if page.next_after is not None:
            e.out.note(f"more: ecps history {page.activation_id} --after {page.next_after}")

    e.out.emit({"activation_id": page.activation_id, "after": page.after, "total": page.total,
                "next_after": page.next_after, "steps": page.steps}, render)


def register(app: typer.Typer) -> None:
    """Add `history` to `app`."""
    app.command("history", rich_help_panel="Activation flow")(history)
