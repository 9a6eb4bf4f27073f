"""The reference triage agent's plan: derived from the description, deterministic."""

from __future__ import annotations

from examples.agents.triage import DEFAULT_STEPS, MAX_STEPS, plan_from_description, render_plan


def test_bullet_points_become_the_steps_and_mentions_are_dropped() -> None:
    description = "@backend-bot please:\n- Reproduce the logout\n* Check the token TTL\n1. Fix the refresh"
    assert plan_from_description(description) == [
        "Reproduce the logout",
        "Check the token TTL",
        "Fix the refresh",
    ]


def test_without_bullets_the_sentences_become_the_steps() -> None:
    description = "@backend-bot Users are logged out after 5 minutes. The refresh token is never used!"
    assert plan_from_description(description) == [
        "Users are logged out after 5 minutes",
        "The refresh token is never used!",
    ]


def test_an_empty_description_gets_the_default_plan() -> None:
    assert plan_from_description("@backend-bot") == list(DEFAULT_STEPS)
    assert plan_from_description("") == list(DEFAULT_STEPS)


def test_a_long_description_is_cut_to_the_first_steps() -> None:
    description = "\n".join(f"- step {n}" for n in range(20))
    assert len(plan_from_description(description)) == MAX_STEPS


def test_the_rendered_plan_is_numbered_under_a_heading() -> None:
    assert render_plan(["a", "b"]) == "Plan:\n1. a\n2. b"
