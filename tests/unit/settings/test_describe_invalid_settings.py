"""The one message every component prints for bad settings: each variable named, no value echoed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from oblivion_settings import describe_invalid_settings, variable_name


class _Flat(BaseModel):
    nexus_url: str
    client_secret: str = Field(pattern=r"^s+$")
    labels: dict[str, int] = {}

    @model_validator(mode="after")
    def _rule(self) -> _Flat:
        if self.nexus_url == "both":
            raise ValueError("OBLIVION_A or OBLIVION_B must be set")
        return self


class _Section(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)
    bot_token: SecretStr = Field(validation_alias="OBLIVION_SLACK_BOT_TOKEN")
    port: int = Field(default=1, ge=1, validation_alias="OBLIVION_PORT")


class _Sectioned(BaseModel):
    slack: _Section


def _message(model: type[BaseModel], data: dict[str, object]) -> str:
    try:
        model.model_validate(data)
    except ValidationError as e:
        return describe_invalid_settings(e, "test")
    raise AssertionError("the data was valid")


def test_every_missing_and_malformed_variable_is_named_on_its_own_line() -> None:
    message = _message(_Flat, {"client_secret": "hush-hush-secret", "labels": {"team": "x"}})
    assert message.splitlines() == [
        "invalid test settings:",
        "  OBLIVION_NEXUS_URL: is not set",
        "  OBLIVION_CLIENT_SECRET: String should match pattern '^s+$'",
        "  OBLIVION_LABELS: Input should be a valid integer, unable to parse string as an integer",
    ]
    assert "hush-hush-secret" not in message


def test_a_rule_spanning_variables_is_shown_as_its_own_words() -> None:
    message = _message(_Flat, {"nexus_url": "both", "client_secret": "s" * 40})
    assert message == "invalid test settings:\n  OBLIVION_A or OBLIVION_B must be set"


def test_sections_validated_by_variable_name_show_that_name() -> None:
    message = _message(_Sectioned, {"slack": {"OBLIVION_PORT": "0"}})
    assert "  OBLIVION_SLACK_BOT_TOKEN: is not set" in message.splitlines()
    assert "  OBLIVION_PORT: Input should be greater than or equal to 1" in message.splitlines()


def test_variable_names_come_from_field_names_or_aliases() -> None:
    assert variable_name(("db_pool_size",)) == "OBLIVION_DB_POOL_SIZE"
    assert variable_name(("memory", "OBLIVION_MEMORY_DATA_DIR")) == "OBLIVION_MEMORY_DATA_DIR"
    assert variable_name(("labels", "team")) == "OBLIVION_LABELS"
