"""Command groups imported only when they are used.

``postroom sync PROFILE`` run by a scheduler every few minutes should pay for the imports of the
sync and nothing else: not the connector's, the directory services' (ldap3), the archive
browser's or the task queue's. Building every command's options from its signature costs too
(typer reads the type hints of every function). So the root group knows its commands only by
name, module and attribute, and imports one when it is asked for — to run it, or to list it in
``--help``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo

__all__ = ["LazyGroup"]


class LazyGroup(TyperGroup):
    """A typer group whose commands are ``name → (module, attribute)``: a typer app or a function."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(name for name in self.lazy if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return self.commands.get(cmd_name)
        module, attribute = self.lazy[cmd_name]
        target = getattr(import_module(module), attribute)
        # Built as typer builds what add_typer() and command() registered, with the root's settings.
        command: Any
        if isinstance(target, typer.Typer):
            command = get_group_from_info(
                TyperInfo(target, name=cmd_name),
                pretty_exceptions_short=True,
                suggest_commands=True,
                rich_markup_mode=self.rich_markup_mode,
            )
        else:
            command = get_command_from_info(
                CommandInfo(name=cmd_name, callback=target),
                pretty_exceptions_short=True,
                rich_markup_mode=self.rich_markup_mode,
            )
        command.name = cmd_name
        self.commands[cmd_name] = command
        return command
