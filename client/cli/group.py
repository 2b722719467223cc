"""Commands that cost nothing until they run: every `gateway` group is a :class:`Group`, and a
command or sub-group mounted in its parent by :func:`lazy` imports its module only when it is run.

Why: every `--help` must start in under 0.3 s of CPU (bench/bench_cli_start.py), and Typer alone takes
most of that. Building the whole tree (some 60 commands, each signature inspected) and importing
every module behind it costs about 100 ms that the help of one group never uses: a lazy command is
listed in its parent's help from its name and short help alone, and built when the command line
names it. And Typer coerces an absent option's ``None`` through a pydantic ``TypeAdapter`` it builds
first, importing pydantic (about 60 ms) at every start for the absent ``--help`` of the parent
group, though coercing ``None`` always gives ``None``: :func:`_skip_coercing_none` skips that.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer import _click
from typer.core import TyperGroup, TyperOption

__all__ = ["Group", "lazy"]


@dataclass(frozen=True)
class _Target:
    """Where a lazy command is: ``module.attribute``, a Typer app (a group) or a command function."""

    module: str
    attribute: str

    def build(self, name: str, short_help: str | None) -> _click.Command:
        found = getattr(importlib.import_module(self.module), self.attribute)
        if isinstance(found, typer.Typer):
            # A group even of one command (`sources check`), as add_typer would make it.
            group = typer.main.get_group(found)
            group.name = name
            return group
        one = typer.Typer(add_completion=False)
        one.command(name, short_help=short_help)(found)
        return typer.main.get_command(one)


class Group(TyperGroup):
    """A Typer group whose lazy sub-groups are loaded when resolved: listed (help, completion of
    names, suggestions for a typo) from their stubs, built when the command line names one."""

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        if args:
            name = ctx.token_normalize_func(args[0]) if ctx.token_normalize_func else args[0]
            stub = self.commands.get(name)
            if isinstance(stub, _LazyStub):
                self.commands[name] = stub.build(name)
        return super().resolve_command(ctx, args)


class _LazyStub(Group):
    """A command's name and short help, standing in for it in its parent until it is run."""

    target: ClassVar[_Target]
    is_group: ClassVar[bool]

    def build(self, name: str) -> _click.Command:
        return self.target.build(name, None if self.is_group else self.help)


def lazy(module: str, attribute: str, *, help: str, group: bool = True) -> typer.Typer:
    """A stub to ``add_typer`` under a name: ``module.attribute``, a Typer app (``group``) or a
    command function, imported and built only when the command line names it. ``help`` is what the
    parent lists: a group's help (the same constant as its app's own, from ``gateway/cli/groups.py``
    or ``client/cli/groups.py``), or a command's short help."""
    stub = type(f"Lazy_{attribute}", (_LazyStub,), {"target": _Target(module, attribute), "is_group": group})
    return typer.Typer(help=help, cls=stub, no_args_is_help=True)


def _skip_coercing_none() -> None:
    """Give an absent optional single-valued option its ``None`` without building its coercion.

    Same result as Typer's own ``process_value`` (its coercion returns ``None`` for ``None`` before
    using the adapter), minus the adapter's construction; a required option, a multiple one and a
    present value take Typer's path unchanged."""
    typers_own = TyperOption.process_value

    def process_value(self: TyperOption, ctx: _click.Context, value: Any) -> Any:
        if value is not None or self.required or self.multiple or self.nargs == -1:
            return typers_own(self, ctx, value)
        return self.callback(ctx, self, value) if self.callback is not None else None

    TyperOption.process_value = process_value  # type: ignore[method-assign,assignment]


_skip_coercing_none()
