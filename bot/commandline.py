"""The command line, assembled from the domains: each adds its commands with what runs them."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from bot.config import Settings

Run = Callable[[Settings, argparse.Namespace], Awaitable[int]]


class CommandLine:
    def __init__(self, sub: argparse._SubParsersAction):  # type: ignore[type-arg]
        self._sub = sub
        self._groups: dict[str, argparse._SubParsersAction] = {}  # type: ignore[type-arg]

    def command(self, name: str, help: str, run: Run) -> argparse.ArgumentParser:
        """A command that works on the database; its subcommands inherit `run`."""
        parser = self._sub.add_parser(name, help=help)
        parser.set_defaults(run=run, needs_database=True)
        return parser

    def group(self, name: str, help: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
        """A command that several domains add actions to (`users consent`, `users add-staff`);
        each action sets its own `run` with `set_defaults`."""
        if name not in self._groups:
            parser = self._sub.add_parser(name, help=help)
            parser.set_defaults(needs_database=True)
            self._groups[name] = parser.add_subparsers(
                dest=f"{name}_command", metavar="ACTION", required=True
            )
        return self._groups[name]
