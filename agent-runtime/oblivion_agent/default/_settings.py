"""What shapes the default agent, read from the variables the operator sets from the Agent resource.

``spec.instructions`` becomes the system prompt, ``spec.description`` says what the agent is for, and
the name people see (``spec.displayName``, else the resource's name) tells its own messages in a
thread from everyone else's. The limits bound one run: a run ends when the model finishes, asks a
person, or has made ``max_steps`` calls.
"""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from oblivion_agent._errors import ConfigurationError
from oblivion_settings import describe_invalid_settings


class DefaultAgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OBLIVION_AGENT_", extra="ignore", frozen=True)

    name: str = Field(default="agent", min_length=1, description="The Agent resource's name.")
    display_name: str | None = Field(
        default=None, description="The name the agent posts under (spec.displayName), if not its name."
    )
    description: str = Field(default="", description="What the agent is for (spec.description).")
    instructions: str = Field(default="", description="The system prompt (spec.instructions).")
    # Twenty model calls take a focused task from reading to a summary with room for a few tool
    # errors; a task that needs more is one a person should look at.
    max_steps: int = Field(
        default=20,
        ge=1,
        le=500,
        description="Model calls one run may make before it stops and asks a person.",
    )
    memory_hits: int = Field(
        default=5, ge=0, le=50, description="Remembered chunks of the project given to the model (0: none)."
    )
    # A tool's answer (a file, a list of issues) can be large; the model sees this much of it.
    tool_result_chars: int = Field(
        default=8000, ge=200, description="Characters of a tool's result the model sees."
    )
    report_result_chars: int = Field(
        default=300, ge=0, description="Characters of a tool's result quoted in the thread's progress line."
    )

    @property
    def posting_names(self) -> frozenset[str]:
        """The names the agent's own messages carry in the thread."""
        return frozenset(n for n in (self.name, self.display_name) if n)


def load_default_settings() -> DefaultAgentSettings:
    """Read the default agent's settings from the environment, naming every bad variable."""
    try:
        return DefaultAgentSettings()
    except ValidationError as e:
        problems = describe_invalid_settings(e, "default agent", prefix="OBLIVION_AGENT_")
        raise ConfigurationError(problems) from None
