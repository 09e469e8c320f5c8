"""Prompt templates: TOML files holding a system part, a user part and defaults.

A template ``<templates_dir>/<name>.toml`` (``[modelbus] templates_dir``, relative to the
config file's folder) or one a plugin registered (``modelbus_register_templates``:
``register(name, path)``; the configured folder wins on a clash)::

    description = "Summarize a text"          # optional, shown by the CLI
    model = "gpt-4o-mini"                      # optional default model or alias
    system = "You are a concise editor."       # Jinja2; optional
    user = '''Summarize in {{ words }} words:

    {{ text }}'''                              # Jinja2; optional (one of the two is needed)

    [variables]                                # optional defaults for variables
    words = 50

    [params]                                   # optional default OpenAI parameters
    temperature = 0.2

    [response_format]                          # optional, sent as response_format
    type = "json_object"

The parts are rendered by Jinja2's ``SandboxedEnvironment`` with ``StrictUndefined``:
loops and conditionals (few-shot examples) work, template code cannot reach Python
internals (templates may come from plugins), and a variable that is not given is a
:class:`TemplateError` naming it and the file, never an empty string. Values given at the
call override the template's defaults (model, params, variables).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from .._routing.resolve import build_messages
from .._wire.types import Message
from ..errors import TemplateError

if TYPE_CHECKING:
    import jinja2

    from .._client import Client

__all__ = [
    "PromptTemplate",
    "apply_template",
    "find_template",
    "list_templates",
    "load_template",
    "render_template",
]

_KEYS = ("description", "model", "system", "user", "variables", "params", "response_format")


@frozen
class PromptTemplate:
    """A loaded template: ``system``/``user`` Jinja2 sources, default ``model``,
    ``params`` (OpenAI parameters), ``response_format`` and ``variables``."""

    name: str
    path: Path
    system: str | None = None
    user: str | None = None
    model: str | None = None
    params: Mapping[str, Any] = field(factory=dict)
    response_format: Mapping[str, Any] | None = None
    variables: Mapping[str, Any] = field(factory=dict)
    description: str | None = None

    def _error(self, message: str, missing: Iterable[str] = ()) -> TemplateError:
        return TemplateError(
            message, template=self.name, path=str(self.path), missing=tuple(missing)
        )

    @property
    def variable_names(self) -> frozenset[str]:
        """The variables the parts use (Jinja2's ``meta.find_undeclared_variables``)."""
        from jinja2 import meta

        env = _env()
        names: set[str] = set()
        for part in (self.system, self.user):
            if part is not None:
                names |= meta.find_undeclared_variables(env.parse(part))
        return frozenset(names)

    def render(
        self, variables: Mapping[str, Any] | None = None
    ) -> tuple[tuple[Message, ...], dict[str, Any]]:
        """``(messages, params)``: the system and user messages, and the keyword arguments
        for ``client.chat`` (``model`` when set, ``response_format``, ``params``).

        Raises :class:`TemplateError` naming every missing variable and the file."""
        import jinja2

        values = {**self.variables, **(variables or {})}
        messages: list[Message] = []
        for role, source in (("system", self.system), ("user", self.user)):
            if source is None:
                continue
            try:
                text = _compile(source).render(values)
            except jinja2.UndefinedError as exc:
                missing = sorted(self.variable_names - set(values))
                if missing:
                    raise self._error(
                        f"missing variable(s) {', '.join(missing)} (given: "
                        f"{', '.join(sorted(values)) or 'none'})",
                        missing,
                    ) from None
                raise self._error(f"in the {role} part: {exc.message}") from None
            except jinja2.TemplateError as exc:
                raise self._error(f"in the {role} part: {exc}") from None
            messages.append(Message(role, text))
        params: dict[str, Any] = dict(self.params)
        if self.model is not None:
            params["model"] = self.model
        if self.response_format is not None:
            params["response_format"] = dict(self.response_format)
        return tuple(messages), params


@functools.cache
def _env() -> jinja2.sandbox.SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # Not HTML: no autoescape. keep_trailing_newline keeps the text as written.
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    return _env().from_string(source)


def load_template(path: str | Path, name: str | None = None) -> PromptTemplate:
    """Read and check the template file at ``path``. Raises :class:`TemplateError` for a
    missing file, bad TOML, an unknown key, a wrong type or a Jinja2 syntax error."""
    p = Path(path)
    tname = name or p.stem
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError("file not found", template=tname, path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read: {exc}", template=tname, path=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"invalid TOML: {exc}", template=tname, path=str(p)) from None

    def bad(msg: str) -> TemplateError:
        return TemplateError(msg, template=tname, path=str(p))

    for key in data:
        if key not in _KEYS:
            raise bad(f"unknown key {key!r}; accepted: {', '.join(_KEYS)}")
    for key in ("description", "model", "system", "user"):
        if key in data and not isinstance(data[key], str):
            raise bad(f"{key!r} must be a string, got {type(data[key]).__name__}")
    for key in ("variables", "params", "response_format"):
        if key in data and not isinstance(data[key], dict):
            raise bad(f"[{key}] must be a table, got {type(data[key]).__name__}")
    if "system" not in data and "user" not in data:
        raise bad("needs a 'system' or a 'user' part")
    import jinja2

    for key in ("system", "user"):
        if key in data:
            try:
                _compile(data[key])
            except jinja2.TemplateSyntaxError as exc:
                raise bad(
                    f"Jinja2 syntax error in the {key} part, line {exc.lineno}: {exc.message}"
                ) from None
    return PromptTemplate(
        tname,
        p,
        data.get("system"),
        data.get("user"),
        data.get("model"),
        data.get("params", {}),
        data.get("response_format"),
        data.get("variables", {}),
        data.get("description"),
    )


def _templates_dir(client: Client) -> Path | None:
    raw = client.config.modelbus.templates_dir
    if not raw:
        return None
    d = Path(raw).expanduser()
    if not d.is_absolute() and client.config.base_dir is not None:
        d = client.config.base_dir / d
    return d


def list_templates(client: Client) -> dict[str, Path]:
    """``{name: path}`` of every template: plugin-registered ones, then the configured
    folder's ``*.toml`` (recursively, ``sub/name``), which win on a clash."""
    found: dict[str, Path] = {r.name: Path(r.factory) for r in client.registry.of_kind("templates")}
    d = _templates_dir(client)
    if d is not None and d.is_dir():
        for f in sorted(d.rglob("*.toml")):
            found[f.relative_to(d).with_suffix("").as_posix()] = f
    return found


def find_template(client: Client, name: str) -> PromptTemplate:
    """The template called ``name`` (or at the path ``name`` when it ends in ``.toml``).

    Raises :class:`TemplateError` naming the known templates when there is none."""
    if name.endswith(".toml") and Path(name).expanduser().is_file():
        return load_template(Path(name).expanduser())
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise TemplateError("a template name is relative and has no '..'", template=name)
    d = _templates_dir(client)
    if d is not None and (d / f"{name}.toml").is_file():
        return load_template(d / f"{name}.toml", name)
    if ("templates", name) in client.registry:
        reg = client.registry.get("templates", name)
        return load_template(Path(reg.factory), name)
    known = ", ".join(sorted(list_templates(client))) or "none"
    where = f" in {d}" if d is not None else " ([modelbus] templates_dir is not set)"
    raise TemplateError(
        f"not found{where} or among plugin templates; known: {known}", template=name
    )


def render_template(
    client: Client, name: str, variables: Mapping[str, Any] | None = None
) -> tuple[tuple[Message, ...], dict[str, Any]]:
    """``(messages, params)`` for ``client.chat(messages, **params)`` from the template
    ``name`` (see :meth:`PromptTemplate.render`); what ``modelbus chat -t NAME -v k=v``
    uses."""
    return find_template(client, name).render(variables)


def apply_template(
    client: Client,
    template: str | None,
    variables: Mapping[str, Any] | None,
    messages: Any,
    model: str | None,
    system: str | None,
    params: dict[str, Any],
) -> tuple[Any, str | None, str | None, dict[str, Any]]:
    """What ``client.chat(template=...)`` sends: the template's messages followed by
    ``messages`` (if any); the call's ``model``, ``system`` and ``params`` override the
    template's. Raises ``TypeError`` when there is neither a template nor messages."""
    if template is None:
        if messages is None:
            raise TypeError(
                "chat() needs messages (a prompt, a Message or a list) or template='name'"
            )
        if variables is not None:
            raise TypeError("variables= needs template='name'")
        return messages, model, system, params
    rendered, tparams = render_template(client, template, variables)
    if system is not None:
        rendered = tuple(m for m in rendered if m.role != "system")
    if messages is not None:
        rendered = rendered + build_messages(messages)
    tmodel = tparams.pop("model", None)
    return rendered, model or tmodel, system, {**tparams, **params}
