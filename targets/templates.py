"""The one jinja2 setup of every target: templates are package data, a missing variable is an error, and
nothing is escaped by jinja (each target quotes for its own syntax: targets/systemd/syntax.py, nginx
values validated to need no quoting)."""

from __future__ import annotations

import jinja2


def template_env(package: str) -> jinja2.Environment:
    """Templates of `package` (its `templates/` directory), found the same way in a checkout and a wheel."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
