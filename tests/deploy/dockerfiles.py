"""Reading Dockerfiles in tests: instructions per build stage, with continuation lines joined and ARGs resolved.

No Docker engine runs here, so the image's promises (non-root, entry point, what ships) are checked on the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_FROM = re.compile(r"^(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<name>\S+))?$", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Stage:
    """One ``FROM`` and the instructions after it, as ``(KEYWORD, arguments)`` pairs."""

    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, keyword: str) -> list[str]:
        """The arguments of every ``keyword`` instruction of this stage, in order."""
        return [value for key, value in self.instructions if key == keyword]

    def last(self, keyword: str) -> str:
        """The arguments of the last ``keyword`` instruction (the one that takes effect)."""
        values = self.values(keyword)
        assert values, f"stage {self.name!r} has no {keyword}"
        return values[-1]


def logical_lines(text: str) -> list[str]:
    """Instructions one per line: comments dropped, ``\\``-continued lines joined."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "a continuation line ends the file"
    return lines


def parse_dockerfile(path: Path) -> list[Stage]:
    """The build stages of ``path``; ``FROM ${ARG}`` is resolved with the defaults of the global ``ARG`` lines."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(path.read_text()):
        keyword, _, value = line.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "ARG" and not stages:
            name, _, default = value.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            match = _FROM.match(value)
            assert match, f"unreadable FROM: {value}"
            image = _VARIABLE.sub(lambda m: global_args[m.group(1) or m.group(2)], match.group("image"))
            stages.append(Stage(image=image, name=match.group("name") or str(len(stages))))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, value))
    return stages
