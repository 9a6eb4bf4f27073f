"""The configuration reference is generated from the settings classes and must match them."""

from __future__ import annotations

import pytest
from scripts.config_reference import COMPONENTS, TARGET, render


def test_the_configuration_reference_matches_the_settings_classes() -> None:
    assert TARGET.read_text() == render(), f"{TARGET.name} is out of date: run `make docs-config`"


@pytest.mark.parametrize(("title", "settings"), [(title, settings) for title, settings, _ in COMPONENTS])
def test_every_setting_says_what_it_is_for(title: str, settings: type) -> None:
    undocumented = [
        name for name, field in settings.model_fields.items() if not (field.description or "").strip()
    ]
    assert not undocumented, f"{title} settings without a description: {', '.join(undocumented)}"


def test_every_variable_appears_once_with_its_default() -> None:
    text = render()
    assert text.count("| `OBLIVION_DATABASE_URL` | str | **required** |") == 1
    assert "| `OBLIVION_PORT` | int | `8080` |" in text
    assert "| `OBLIVION_ADMIN_TOKEN` | secret | **required** |" in text
