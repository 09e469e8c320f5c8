"""Training prices of OpenAI's fine-tunable chat models, added to the model catalog
(``training_per_1m``, US dollars per 1M training tokens) by modelbus-openai's
``modelbus_register_catalog`` hook; ``[catalog."MODEL"] training_per_1m`` in
``modelbus.toml`` overrides them.

Source: OpenAI API pricing page, "Fine-tuning" table (supervised fine-tuning, training
column), https://openai.com/api/pricing/ — check it before relying on an estimate:
prices change. Dated snapshots (``gpt-4o-mini-2024-07-18``) find these through the
catalog's lookup of the undated name.
"""

from __future__ import annotations

__all__ = ["TRAINING_PER_1M", "catalog_entries"]

TRAINING_PER_1M: dict[str, float] = {
    "gpt-4.1": 25.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4o": 25.00,
    "gpt-4o-mini": 3.00,
    "gpt-3.5-turbo": 8.00,
}


def catalog_entries() -> dict[str, dict[str, object]]:
    """``{model: {"training_per_1m": price}}`` for the catalog hook."""
    return {model: {"training_per_1m": price} for model, price in TRAINING_PER_1M.items()}
