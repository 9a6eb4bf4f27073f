"""The model price table of the settings (``OBLIVION_MODEL_PRICES``), parsed where the settings are
read so a malformed entry stops start-up naming itself; the model gateway prices calls with it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


@dataclass(frozen=True)
class Price:
    input_per_million: Decimal
    output_per_million: Decimal


class PriceTableError(ValueError):
    pass


def parse_price_table(text: str) -> dict[str, Price]:
    """`model=input/output,…` (US$ per million tokens) → prices; a malformed entry names itself."""
    table: dict[str, Price] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        model, sep, prices = entry.partition("=")
        given, slash, taken = prices.partition("/")
        try:
            if not (sep and slash and model.strip()):
                raise InvalidOperation
            price = Price(Decimal(given.strip()), Decimal(taken.strip()))
        except InvalidOperation as e:
            raise PriceTableError(
                f"price entry {entry!r} is not model=input/output in US$ per million tokens"
            ) from e
        if (
            price.input_per_million < 0
            or price.output_per_million < 0
            or not price.input_per_million.is_finite()
        ):
            raise PriceTableError(f"price entry {entry!r} has a negative or infinite price")
        table[model.strip()] = price
    return table
