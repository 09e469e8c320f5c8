"""PEP 562 lazy exports of modelbus and its plugins."""

from __future__ import annotations

import subprocess
import sys

import pytest

import modelbus


def test_names_load_on_first_read_and_stay() -> None:
    code = (
        "import sys, modelbus\n"
        "assert 'modelbus._client' not in sys.modules\n"
        "c = modelbus.Client\n"
        "assert 'modelbus._client' in sys.modules and modelbus.__dict__['Client'] is c\n"
        "assert modelbus.errors is sys.modules['modelbus.errors']\n"
        "import modelbus_openai\n"
        "assert 'openai' not in sys.modules\n"
        "assert modelbus_openai.OpenAISettings.__name__ == 'OpenAISettings'\n"
        "import modelbus_structured_output as so, modelbus.errors as e\n"
        "assert so.RefusalError is e.RefusalError\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_an_unknown_name_is_an_attribute_error_naming_the_package() -> None:
    with pytest.raises(AttributeError, match="module 'modelbus' has no attribute 'Clent'"):
        modelbus.Clent  # noqa: B018
    assert "Client" in dir(modelbus) and "Clent" not in dir(modelbus)
