"""Go-style command lines, rewritten for the settings parser, so that old Deployment args keep working.

Go's ``flag`` package accepts a long flag with one dash (``-cluster-id=x``)
and boolean flags as ``--flag=true``; the original binary also took ``--v=N``.
argparse wants ``--cluster-id``, ``--gzip``/``--no-gzip`` and ``-v``.
"""

from __future__ import annotations

from typing import Final

from pydantic_settings import BaseSettings

_TRUE: Final = frozenset({"1", "t", "true", "yes"})
_FALSE: Final = frozenset({"0", "f", "false", "no"})


def _flag_names(settings_cls: type[BaseSettings]) -> tuple[set[str], set[str]]:
    """Long flag names (kebab-case, more than one letter) and the boolean ones among them."""
    names: set[str] = {"help"}
    booleans: set[str] = set()
    for field_name, info in settings_cls.model_fields.items():
        flag = field_name.replace("_", "-")
        names.add(flag)
        if info.annotation is bool:
            booleans.add(flag)
    return names, booleans


def _rewrite(arg: str, names: set[str], booleans: set[str]) -> str:
    stripped = arg.lstrip("-")
    dashes = len(arg) - len(stripped)
    name, eq, value = stripped.partition("=")
    if dashes not in {1, 2} or name not in names:
        return arg
    if len(name) == 1:  # argparse's short form: -v 2, -v=2
        return f"-{stripped}"
    if name in booleans and eq:
        lowered = value.lower()
        if lowered in _TRUE:
            return f"--{name}"
        if lowered in _FALSE:
            return f"--no-{name}"
    return f"--{stripped}"


def normalise_flags(args: list[str], settings_cls: type[BaseSettings]) -> list[str]:
    """``args`` with Go-style spellings of ``settings_cls``'s flags rewritten; everything else is left alone.

    A value that follows its flag as a separate argument is never rewritten,
    even if it starts with a dash.
    """
    names, booleans = _flag_names(settings_cls)
    result: list[str] = []
    takes_value = False
    for index, arg in enumerate(args):
        if arg == "--":  # argparse's end of options: the rest is positional
            return result + args[index:]
        if takes_value:
            result.append(arg)
            takes_value = False
            continue
        rewritten = _rewrite(arg, names, booleans)
        name = rewritten.lstrip("-")
        takes_value = "=" not in name and name in names and name not in booleans and name != "help"
        result.append(rewritten)
    return result
