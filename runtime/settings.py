"""Shared plumbing for building settings once at the CLI: flags plus ``SPARTAKUS_*`` variables.

Each component defines its own pydantic-settings class with ``settings_config``
and builds it with ``load_settings``; nothing reads the environment at import
time.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BeforeValidator, ValidationError
from pydantic_settings import BaseSettings, CliApp, SettingsConfigDict, SettingsError

ENV_PREFIX: Final = "SPARTAKUS_"
EXIT_CONFIG_ERROR: Final = 2
AMQP_URL_SEPARATOR: Final = ","
"""Separates the URLs of several broker nodes in one ``--amqp-url``."""

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def settings_config(prog: str) -> SettingsConfigDict:
    """The settings configuration every ``spartakus`` sub-command shares."""
    return SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        cli_prog_name=prog,
        cli_kebab_case=True,
        cli_hide_none_type=True,
        cli_avoid_json=True,
        cli_implicit_flags=True,
        extra="ignore",
    )


class ConfigError(Exception):
    """A configuration problem the operator must fix; reported in one line."""


def load_settings(
    cls: type[SettingsT], argv: Sequence[str] | None, *, checks: Mapping[str, Callable[[str], object]] | None = None
) -> SettingsT:
    """Build ``cls`` from ``argv`` (default ``sys.argv[1:]``) and ``SPARTAKUS_*`` variables.

    ``checks`` maps a field to a check of a client's own (e.g. that pika can use ``amqp_url``), run on the
    built settings: a ``ValueError`` it raises is that flag's error, as a validator's would be.

    Raises:
        ConfigError: when a value is missing or invalid, with a one-line explanation.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = CliApp.run(cls, cli_args=args)
    except ValidationError as e:
        raise ConfigError("; ".join(_describe(err["loc"], err["msg"]) for err in e.errors())) from e
    except SettingsError as e:
        raise ConfigError(str(e)) from e
    for name, check in (checks or {}).items():
        try:
            check(getattr(settings, name))
        except ValueError as e:
            raise ConfigError(_describe((name,), str(e))) from e
    return settings


def _describe(loc: tuple[int | str, ...], message: str) -> str:
    # A model-level check (one that spans several flags) has no location.
    message = message.removeprefix("Value error, ")
    if not loc:
        return message
    return f"--{'-'.join(str(part) for part in loc).replace('_', '-')}: {message}"


def exit_config_error(prog: str, error: ConfigError) -> int:
    """Print ``error`` as one line on stderr and return the configuration-error exit code."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return EXIT_CONFIG_ERROR


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration: ``24h``, ``90m``, ``1h30m``, ``1.5s``, ``250ms``; ``0`` is zero.

    Raises:
        ValueError: when ``text`` is not a duration.
    """
    value = text.strip()
    if value in {"0", "+0"}:
        return timedelta(0)
    pos = 0
    seconds = 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(value) or pos == 0:
        raise ValueError(f"invalid duration {text!r}: use e.g. 24h, 90m, 1h30m, 45s or 0")
    return timedelta(seconds=seconds)


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


GoDuration = Annotated[timedelta, BeforeValidator(_duration)]
"""A settings field that takes Go-style durations (``24h``, ``1h30m``, ``0``)."""


def _log_level(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


LogLevel = Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_log_level)]
"""A log level in any case, so that one ``SPARTAKUS_LOG_LEVEL`` serves every component."""


def redact_url(text: str) -> str:
    """``text`` (a URL, or several separated by commas) with every password masked, however malformed.

    Whatever sits between the first ``:`` of the user part and the last ``@``
    is masked; without an ``@``, a non-numeric "port" is masked too, since it
    may be a password whose ``@`` went missing or came after a ``/``.
    """
    return ",".join(_redact_one(part) for part in text.split(","))


def redact_in(text: str, url: str) -> str:
    """``text`` with ``url``'s password masked wherever it appears (an error message about ``url``)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    text = text.replace(url, redact_url(url))
    return text.replace(password, "***") if password else text


def _redact_one(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        # A fragment of a URL split at a comma in its password: keep nothing before an '@'.
        at = url.rfind("@")
        return url if at < 0 else "***" + url[at:]
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        return f"{scheme}://{user}{':***' if colon else ''}{rest[at:]}"
    authority, slash, tail = rest.partition("/")
    host, colon, port = authority.partition(":")
    if colon and not port.isdigit():
        return f"{scheme}://{host}:***{slash}{tail}"
    return url


def split_amqp_urls(text: str) -> list[str]:
    """The URLs of a comma-separated ``--amqp-url``, spaces around each removed.

    A comma inside a password must be written ``%2C``, as in any URL.

    Raises:
        ValueError: an entry is empty, or not an ``amqp://``/``amqps://`` URL with a host and a valid port
            (the message masks passwords).
    """
    urls = [part.strip() for part in text.split(AMQP_URL_SEPARATOR)]
    if not any(urls):
        raise ValueError("no AMQP URL given: use amqp://user:password@host:5672/vhost")
    for url in urls:
        _check_amqp_url(url)
    return urls


def _check_amqp_url(url: str) -> None:
    if not url:
        raise ValueError("an empty entry in the AMQP URL list: separate the URLs with single commas")
    parts = urlsplit(url)
    shown = redact_url(url)
    if parts.scheme not in {"amqp", "amqps"} or not parts.hostname:
        raise ValueError(f"{shown!r} is not an AMQP URL: use amqp://user:password@host:5672/vhost")
    try:
        parts.port  # noqa: B018  # urlsplit checks the port only when asked
    except ValueError as e:
        # urlsplit's own message quotes the port text, which may be part of a password.
        raise ValueError(f"invalid port in AMQP URL {shown!r}: use a number from 0 to 65535") from e


def _amqp_url(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return AMQP_URL_SEPARATOR.join(split_amqp_urls(value))


AmqpUrl = Annotated[str, BeforeValidator(_amqp_url)]
"""One ``amqp://`` or ``amqps://`` URL with a host, or several separated by commas (the nodes of a
cluster), each checked once at start-up; ``runtime.brokers`` says how clients use several."""
