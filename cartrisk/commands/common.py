"""Helpers shared by the commands: JSON output and clear errors."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (the ``--json`` contract)."""
    sys.stdout.write(json.dumps(obj, default=str, indent=None) + "\n")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr and exit with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
