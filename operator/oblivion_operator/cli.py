"""The operator's command-line entry points, mounted by ``oblivion_cli`` under ``oblivion``.

``crds_app`` is ``oblivion crds``: it prints the CustomResourceDefinitions for
``oblivion crds print | kubectl apply -f -`` and lists them. Heavy imports stay inside the commands
so ``oblivion --help`` stays fast.
"""

from __future__ import annotations

import logging

import typer

logger = logging.getLogger(__name__)

crds_app = typer.Typer(
    name="crds",
    help="Print or inspect the CustomResourceDefinitions (oblivion crds print | kubectl apply -f -).",
    no_args_is_help=True,
    add_completion=False,
)


@crds_app.command("print")
def print_crds() -> None:
    """Print the four CRDs as one YAML stream, exactly as in the crds/ files, for kubectl apply -f -."""
    from oblivion_operator.crds import render_crd_stream

    typer.echo(render_crd_stream(), nl=False)


@crds_app.command("list")
def list_crds() -> None:
    """List the CRDs: name, kind, scope, short names and served versions."""
    from oblivion_operator.crds import load_crds, summarize_crd

    rows = [("NAME", "KIND", "SCOPE", "SHORT NAMES", "VERSIONS")]
    for crd in load_crds():
        summary = summarize_crd(crd)
        rows.append(
            (
                summary.name,
                summary.kind,
                summary.scope,
                ",".join(summary.short_names),
                ",".join(summary.versions),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
