"""The operator's command-line entry points, mounted by ``oblivion_cli`` under ``oblivion``.

``crds_app`` is ``oblivion crds``: it prints the CustomResourceDefinitions for
``oblivion crds print | kubectl apply -f -`` and lists them. Heavy imports stay inside the commands
so ``oblivion --help`` stays fast.
"""

from __future__ import annotations

import logging

import typer

logger = logging.getLogger(__name__)

# Peering is on (no --standalone) but kopf's peering CRD or object is missing.
EXIT_PEERING_MISSING = 3

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


app = typer.Typer(
    name="operator",
    help="Run the Kubernetes operator reconciling Workgroups, Projects, Agents and ToolCredentials.",
    invoke_without_command=True,
    add_completion=False,
)


@app.callback()
def run_operator(
    namespace: list[str] = typer.Option(
        [], "--namespace", "-n", help="Watch only this namespace (repeatable); all namespaces by default."
    ),
    standalone: bool = typer.Option(
        False, "--standalone", help="Run without kopf peering (only safe with a single replica)."
    ),
    liveness: str = typer.Option(
        "http://0.0.0.0:8080/healthz", "--liveness", help="Liveness endpoint URL to serve ('' to disable)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    """Run the operator against KUBECONFIG or the in-cluster service account. Settings: OBLIVION_*."""
    import asyncio

    import kopf

    from oblivion_operator.runner import PeeringMissing, run
    from oblivion_operator.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    try:
        asyncio.run(
            run(settings, namespaces=namespace, standalone=standalone, liveness_endpoint=liveness or None)
        )
    except PeeringMissing as e:
        typer.echo(f"oblivion operator cannot start: {e}", err=True)
        raise typer.Exit(EXIT_PEERING_MISSING) from None
