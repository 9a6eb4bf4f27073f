"""``oblivion agent``: run an agent from its module, print the wire protocol's JSON Schema.

Mounted into the root ``oblivion`` command by ``oblivion_cli``. Logging is configured here, in the
command, never when the SDK is imported.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)

# Exit codes a supervisor can tell apart (Kubernetes shows them as the container's exit reason):
# 2 for a mistake in how the agent is configured, as for Nexus's own commands; 3 when Nexus refuses it.
EXIT_BAD_AGENT = 2
EXIT_BAD_SETTINGS = 2
EXIT_DISABLED = 3


def load_agent(target: str) -> object:
    """Import ``package.module:attribute`` from the working directory or the installed packages."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise typer.BadParameter(f"{target!r} is not of the form package.module:attribute")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # like `python -m`, so a project's own agent module is importable
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise typer.BadParameter(f"no module named {module_name!r} (from {cwd})") from e
        raise
    obj: object = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as e:
            raise typer.BadParameter(f"module {module_name!r} has no attribute {attribute!r}") from e
    return obj


@app.command()
def run(
    target: str = typer.Argument(
        ...,
        help="The agent to run, as package.module:attribute; oblivion_agent.default:agent is the "
        "model-driven default agent (needs the agent-langgraph extra).",
    ),
    log_level: str = typer.Option("INFO", envvar="OBLIVION_LOG_LEVEL", help="Log level."),
) -> None:
    """Run an agent until SIGTERM or SIGINT. Configured by OBLIVION_NEXUS_URL, OBLIVION_CLIENT_ID and
    OBLIVION_CLIENT_SECRET.

    The model-driven default agent (the image's when given no module): oblivion_agent.default:agent

    It is shaped by OBLIVION_AGENT_INSTRUCTIONS, OBLIVION_AGENT_DESCRIPTION, OBLIVION_AGENT_MAX_STEPS."""
    from oblivion_agent._agent import Agent
    from oblivion_agent._errors import AgentDisabledError, ConfigurationError
    from oblivion_agent._settings import load_settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent = load_agent(target)
    if not isinstance(agent, Agent):
        typer.echo(f"error: {target} is a {type(agent).__name__}, not an oblivion_agent.Agent", err=True)
        raise typer.Exit(EXIT_BAD_AGENT)
    try:
        settings = load_settings()
    except ConfigurationError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_BAD_SETTINGS) from None
    try:
        agent.run(settings)
    except AgentDisabledError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_DISABLED) from None


@app.command("protocol-schema")
def protocol_schema() -> None:
    """Print the JSON Schema of the agent wire protocol (subprotocol oblivion.v1)."""
    from oblivion_agent.protocol import json_schema

    typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
