"""Prompt templates (core/modelbus/_templates.py): files, plugins, rendering, errors and
``client.chat(template=...)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelbus import Message, render_template
from modelbus._plugins.registry import Registration
from modelbus._prompts.templates import find_template, list_templates, load_template
from modelbus.errors import TemplateError
from modelbus.testing import FakeClock, FakeProvider, make_client

SUMMARIZE = '''
description = "Summarize a text"
model = "fake/summarizer"
system = "You summarize{% if tone %} in a {{ tone }} tone{% endif %}."
user = """Summarize in {{ words }} words:

{{ text }}"""

[variables]
words = 50
tone = ""

[params]
temperature = 0.2
max_tokens = 200

[response_format]
type = "json_object"
'''


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    d = tmp_path / "prompts"
    (d / "team").mkdir(parents=True)
    (d / "summarize.toml").write_text(SUMMARIZE, encoding="utf-8")
    (d / "team" / "review.toml").write_text(
        'user = """Review:\n{% for f in files %}- {{ f }}\n{% endfor %}"""\n', encoding="utf-8"
    )
    return d


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider("fake", clock=FakeClock())


def client_for(fake: FakeProvider, tdir: Path | None, **core: Any) -> Any:
    c = {"modelbus": {"templates_dir": str(tdir)} if tdir else {}}
    c["modelbus"].update(core)
    return make_client(fake, c)


def test_render(fake: FakeProvider, tdir: Path) -> None:
    client = client_for(fake, tdir)
    messages, params = render_template(client, "summarize", {"text": "Long text.", "tone": "dry"})
    assert messages == (
        Message("system", "You summarize in a dry tone."),
        Message("user", "Summarize in 50 words:\n\nLong text."),
    )
    assert params == {
        "temperature": 0.2,
        "max_tokens": 200,
        "model": "fake/summarizer",
        "response_format": {"type": "json_object"},
    }
    messages, _ = render_template(client, "team/review", {"files": ["a.py", "b.py"]})
    assert messages == (Message("user", "Review:\n- a.py\n- b.py\n"),)


def test_missing_variable_names_it_and_the_file(fake: FakeProvider, tdir: Path) -> None:
    client = client_for(fake, tdir)
    with pytest.raises(TemplateError) as info:
        render_template(client, "summarize", {"txt": "typo"})
    err = info.value
    assert err.missing == ("text",) and err.template == "summarize"
    assert err.path == str(tdir / "summarize.toml")
    assert str(err) == (
        f"template 'summarize' ({tdir / 'summarize.toml'}): missing "
        "variable(s) text (given: tone, txt, words)"
    )


def test_attribute_of_missing_value(fake: FakeProvider, tmp_path: Path) -> None:
    p = tmp_path / "t.toml"
    p.write_text('user = "Hi {{ user.name }}"', encoding="utf-8")
    with pytest.raises(
        TemplateError, match="in the user part: 'dict object' has no attribute 'name'"
    ):
        load_template(p).render({"user": {}})


def test_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    p = tmp_path / "evil.toml"
    p.write_text('user = "{{ x.__class__.__mro__[1].__subclasses__() }}"', encoding="utf-8")
    with pytest.raises(TemplateError, match="unsafe|access to attribute"):
        load_template(p).render({"x": 1})


@pytest.mark.parametrize(
    "body, match",
    [
        ('user = "x"\nsytem = "typo"', "unknown key 'sytem'; accepted: description, model"),
        ("user = 5", "'user' must be a string, got int"),
        ('user = "x"\nparams = 3', r"\[params\] must be a table"),
        ('description = "no parts"', "needs a 'system' or a 'user' part"),
        ('user = "{% if %}"', "Jinja2 syntax error in the user part, line 1"),
        ('user = "unterminated', "invalid TOML"),
    ],
)
def test_malformed_templates(tmp_path: Path, body: str, match: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(TemplateError, match=match) as info:
        load_template(p)
    assert str(p) in str(info.value)


def test_not_found_lists_known(fake: FakeProvider, tdir: Path) -> None:
    client = client_for(fake, tdir)
    with pytest.raises(
        TemplateError,
        match=r"not found in .*prompts.*; known: summarize, "
        "team/review",
    ):
        find_template(client, "nope")
    with pytest.raises(TemplateError, match="relative and has no '..'"):
        find_template(client, "../summarize")
    with pytest.raises(TemplateError, match="templates_dir is not set"):
        find_template(client_for(fake, None), "summarize")


def test_plugin_templates_and_precedence(fake: FakeProvider, tdir: Path, tmp_path: Path) -> None:
    plugin_file = tmp_path / "plugin_summarize.toml"
    plugin_file.write_text('user = "plugin version {{ text }}"', encoding="utf-8")
    other = tmp_path / "greet.toml"
    other.write_text('system = "Greet {{ name }}."', encoding="utf-8")
    client = client_for(fake, tdir)
    client.registry.add(Registration("templates", "summarize", str(plugin_file), plugin="p"))
    client.registry.add(Registration("templates", "greet", str(other), plugin="p"))
    assert list_templates(client) == {
        "summarize": tdir / "summarize.toml",
        "greet": other,
        "team/review": tdir / "team" / "review.toml",
    }
    # the configured folder wins over a plugin's template of the same name
    assert find_template(client, "summarize").path == tdir / "summarize.toml"
    messages, _ = render_template(client, "greet", {"name": "Ann"})
    assert messages == (Message("system", "Greet Ann."),)


def test_templates_dir_relative_to_config_file(fake: FakeProvider, tdir: Path) -> None:
    from modelbus._config.config import Config

    cfg_file = tdir.parent / "modelbus.toml"
    cfg_file.write_text('[modelbus]\ntemplates_dir = "prompts"\n', encoding="utf-8")
    client = make_client(fake)
    client.config = Config.load(cfg_file)
    assert find_template(client, "summarize").path == tdir / "summarize.toml"


def test_template_path_directly(fake: FakeProvider, tdir: Path) -> None:
    t = find_template(client_for(fake, None), str(tdir / "summarize.toml"))
    assert t.name == "summarize" and t.variable_names == {"tone", "words", "text"}


def test_chat_with_template(fake: FakeProvider, tdir: Path) -> None:
    client = client_for(fake, tdir)
    fake.enqueue_text('{"summary": "short"}')
    resp = client.chat(template="summarize", variables={"text": "T"})
    assert resp.content == '{"summary": "short"}'
    req = fake.requests[-1]
    assert req.model == "summarizer" and req.temperature == 0.2 and req.max_tokens == 200
    assert req.response_format == {"type": "json_object"}
    assert [m.role for m in req.messages] == ["system", "user"]
    # call arguments override the template; messages follow the template's
    client.chat(
        "And a follow-up.",
        template="summarize",
        variables={"text": "T"},
        model="fake/other",
        system="Custom.",
        temperature=0.9,
    )
    req = fake.requests[-1]
    assert req.model == "other" and req.temperature == 0.9 and req.max_tokens == 200
    assert [(m.role, m.text) for m in req.messages] == [
        ("system", "Custom."),
        ("user", "Summarize in 50 words:\n\nT"),
        ("user", "And a follow-up."),
    ]


async def test_achat_with_template(fake: FakeProvider, tdir: Path) -> None:
    client = client_for(fake, tdir)
    await client.achat(template="team/review", variables={"files": ["x"]})
    assert fake.requests[-1].messages == (Message("user", "Review:\n- x\n"),)


def test_chat_argument_errors(fake: FakeProvider, tdir: Path) -> None:
    client = client_for(fake, tdir)
    with pytest.raises(TypeError, match="needs messages"):
        client.chat()
    with pytest.raises(TypeError, match="variables= needs template"):
        client.chat("hi", variables={"a": 1})
    with pytest.raises(TemplateError, match="missing variable"):
        client.chat(template="summarize")
    assert fake.calls == 0
