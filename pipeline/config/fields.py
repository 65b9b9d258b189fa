"""How a setting is declared (``setting``) and how a section checks itself (``require``)."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from pipeline.errors import ConfigError


def setting(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    cli: bool = True,
) -> Any:
    """A config field whose CLI option is derived from it (``--field-name`` unless ``flag``)."""
    meta = {"help": help, "flag": flag, "choices": choices, "cli": cli}
    if isinstance(default, list | dict):
        raise TypeError("config defaults must be immutable (use a tuple)")
    return field(default=default, metadata=meta)


def require(checks: list[tuple[bool, str]]) -> None:
    """ConfigError with the first failing check's message."""
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
