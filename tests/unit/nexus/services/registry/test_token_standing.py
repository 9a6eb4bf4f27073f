"""When a registration change revokes an agent's tokens, and what a standing says about a token."""

from __future__ import annotations

import pytest

from oblivion_nexus.services.registry.entries import narrows_projects
from oblivion_nexus.stores.agent_standing import AgentStanding, Status


@pytest.mark.parametrize(
    ("before", "after", "narrowed"),
    [
        ((), ("alpha",), True),  # every project → one project
        (("alpha", "beta"), ("alpha",), True),
        (("alpha", "beta"), ("gamma", "alpha"), True),
        (("alpha",), ("alpha", "beta"), False),
        (("alpha",), (), False),  # one project → every project
        ((), (), False),
        (("beta", "alpha"), ("alpha", "beta"), False),  # same set, other order
    ],
)
def test_only_taking_a_project_away_counts_as_narrowing(
    before: tuple[str, ...], after: tuple[str, ...], narrowed: bool
) -> None:
    assert narrows_projects(before, after) is narrowed


def test_a_token_of_the_current_generation_of_an_active_agent_is_good() -> None:
    assert AgentStanding(Status.ACTIVE, 3).refusal(3) is None


@pytest.mark.parametrize(
    ("standing", "token_generation", "refusal"),
    [
        (AgentStanding(Status.ACTIVE, 3), 2, (False, "token was revoked: the agent's credentials changed")),
        (AgentStanding(Status.ACTIVE, 3), 4, (False, "token was revoked: the agent's credentials changed")),
        (AgentStanding(Status.DISABLED, 3), 3, (True, "agent is disabled")),
        (AgentStanding(Status.GONE), 3, (True, "agent is unknown")),
    ],
)
def test_stale_tokens_and_refused_agents_are_told_apart(
    standing: AgentStanding, token_generation: int, refusal: tuple[bool, str]
) -> None:
    assert standing.refusal(token_generation) == refusal


@pytest.mark.parametrize(
    "standing",
    [AgentStanding(Status.ACTIVE, 7), AgentStanding(Status.DISABLED, 2), AgentStanding(Status.GONE)],
)
def test_a_standing_reads_back_as_it_was_written(standing: AgentStanding) -> None:
    assert AgentStanding.decode(standing.encode().encode()) == standing
