"""Training prices of OpenAI's fine-tunable chat models, US dollars per 1M training tokens.

The core catalog holds inference prices only; these figures fill the gap for the
``modelbus finetune`` cost estimate. A catalog entry with a ``training_per_1m`` field
(``[catalog."MODEL"]`` in ``modelbus.toml``, when the catalog supports it) wins over this
table. Source: OpenAI API pricing page, "Fine-tuning" table (supervised fine-tuning,
training column), https://openai.com/api/pricing/ — check it before relying on an
estimate: prices change.
"""

from __future__ import annotations

import re

__all__ = ["SOURCE", "TRAINING_PER_1M", "training_price"]

SOURCE = "https://openai.com/api/pricing/ (Fine-tuning, training)"

TRAINING_PER_1M: dict[str, float] = {
    "gpt-4.1": 25.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4o": 25.00,
    "gpt-4o-mini": 3.00,
    "gpt-3.5-turbo": 8.00,
}

_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{4}$")


def training_price(model: str) -> float | None:
    """US dollars per 1M training tokens for ``model`` (a dated snapshot such as
    ``gpt-4o-mini-2024-07-18`` uses its family's price), or ``None`` when unknown."""
    if model in TRAINING_PER_1M:
        return TRAINING_PER_1M[model]
    return TRAINING_PER_1M.get(_DATED.sub("", model))
