"""The root ``oblivion`` typer app.

Each component owns a typer app in its ``cli`` module; they are mounted here. Those modules import
their heavy dependencies inside the commands, so ``oblivion --help`` stays fast and works with only
the extras that are installed.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer

from oblivion_cli import __version__

app = typer.Typer(
    name="oblivion",
    help="Oblivion: AI agents as members of an engineering team, on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
)

# (module, typer app attribute, sub-command name, help); a module missing from the install is
# skipped so that e.g. the agent image, which ships without the operator extra, still has a CLI.
_SUBCOMMANDS: tuple[tuple[str, str, str | None, str], ...] = (
    ("oblivion_operator.cli", "app", "operator", "Run the Kubernetes operator."),
    ("oblivion_operator.cli", "crds_app", "crds", "Print or inspect the CustomResourceDefinitions."),
    ("oblivion_nexus.cli", "app", "nexus", "Run Nexus: the API, the worker, migrations."),
    ("oblivion_nexus.cli", "dev_app", None, "Local development helpers."),
    ("oblivion_nexus.cli", "trigger_app", "trigger", "Send signed test webhooks to a running Nexus."),
    ("oblivion_nexus.cli", "audit_app", "audit", "Check the Tool Gateway's audit trail."),
    ("oblivion_nexus.cli", "memory_app", "memory", "Copy a project's history into the Memory Bank."),
    ("oblivion_agent.cli", "app", "agent", "Run an agent; print the wire protocol schema."),
)


@app.callback()
def _root() -> None:
    """Oblivion: AI agents as members of an engineering team, on Kubernetes."""


@app.command()
def version() -> None:
    """Print the installed Oblivion version."""
    typer.echo(__version__)


def _mount() -> None:
    for module_name, attribute, name, help_text in _SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name.split(".")[0]):
                continue  # the component's package is not installed
            if e.name and not e.name.startswith("oblivion"):
                continue  # a dependency of the component's extra is not installed (e.g. the operator image)
            raise
        sub: Any = getattr(module, attribute, None)
        if sub is None:
            continue
        if name is None:
            app.registered_commands.extend(sub.registered_commands)
        else:
            app.add_typer(sub, name=name, help=help_text)


def main() -> None:
    _mount()
    app()
