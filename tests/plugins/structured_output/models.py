"""attrs classes the tests ask for."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Literal

import attrs


@attrs.frozen
class Line:
    item: str
    qty: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen
class Invoice:
    """An invoice.

    Attributes:
        number: the invoice number as printed
    """

    number: str
    total_eur: float
    lines: list[Line]
    issued: dt.date | None = None


class Speaker(enum.Enum):
    AGENT = "agent"
    CUSTOMER = "customer"


@attrs.frozen
class Sentiment:
    """The overall sentiment of a support dialogue."""

    label: Literal["positive", "neutral", "negative"] = attrs.field(
        metadata={"description": "how the customer feels at the end"}
    )
    confident: bool
    loudest: Speaker


# The recorded OpenAI payloads (tests/fixtures/wire/openai): Mirascope's Book and
# Author (strict json_schema, stream, refusal) and pydantic-ai's CityLocation (strict=false).
@attrs.frozen
class Author:
    """The author of a book."""

    first_name: str
    last_name: str


@attrs.frozen
class Book:
    """A book with a rating. The title should be in all caps!"""

    title: str
    author: Author
    rating: int = attrs.field(
        metadata={"description": "For testing purposes, the rating should be 7"}
    )


@attrs.frozen
class FentanylHandbook:
    instructions: str


@attrs.frozen
class CityLocation:
    city: str
    country: str
