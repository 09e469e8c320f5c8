"""``modelbus new-plugin``: scaffold a plugin distribution that installs and passes its
own tests as made (see ``modelbus._plugins.scaffold``)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["new_plugin"]

_KINDS = ("provider", "cache", "retry-policy", "token-counter", "tools")


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "-k",
    "--kind",
    type=click.Choice(_KINDS),
    required=True,
    help="What the plugin registers.",
)
@click.option(
    "-d",
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to create the distribution modelbus-NAME in.",
)
@click.option("--description", default=None, help="One line for pyproject.toml and the README.")
def new_plugin(name: str, kind: str, directory: Path, description: str | None) -> None:
    """Create the plugin distribution modelbus-NAME: pyproject.toml with the `modelbus`
    entry point, src/modelbus_NAME/ (the registration, a settings class and a working
    implementation), tests built on modelbus.testing's contract suites, and a README.

    NAME is lowercase words joined by hyphens (`acme`, `my-llm`); it is the name the
    config uses ([providers.NAME], cache = "NAME"...). Then:

    \b
        cd modelbus-NAME && pip install -e '.[test]' && pytest
    """
    from .._plugins.scaffold import scaffold_plugin

    try:
        files = scaffold_plugin(name, kind, directory, description=description)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    root = files[0].parent
    for f in files:
        click.echo(f"created {f}")
    click.echo(f"\nnext: cd {root} && pip install -e '.[test]' && pytest")
