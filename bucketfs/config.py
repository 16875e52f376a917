"""The mount's settings: ``config.toml``, ``BUCKETFS_*`` environment variables and flags.

Each setting comes from the first of: a command-line flag, the environment variable
``BUCKETFS_<KEY>`` (upper case), the config file (``paths.config_file()``), the default.

==================  =============================  =======================================
key                 environment                    default
==================  =============================  =======================================
``hub``             ``BUCKETFS_HUB``               none or ``embedded``: the embedded hub
``api_key``         ``BUCKETFS_API_KEY``           none (the embedded hub provisions one)
``api_secret``      ``BUCKETFS_API_SECRET``        none (an insecure key has no secret)
``identity``        ``BUCKETFS_IDENTITY``          ``paths.identity_file()``
``thread``          ``BUCKETFS_THREAD``            ``buckets`` (the buckets thread DB)
``cache_dir``       ``BUCKETFS_CACHE_DIR``         ``paths.cache_dir()``
``cache_max_size``  ``BUCKETFS_CACHE_MAX_SIZE``    ``10G``
``write_back``      ``BUCKETFS_WRITE_BACK``        false (``true``/``1``: write-back mode)
==================  =============================  =======================================

The file may also hold an ``[embedded]`` table with the ``api_key`` and ``api_secret`` that
bucketfs provisioned on the embedded hub; they are used only when no hub is configured. A file
that holds a secret must not be readable by other users (it is refused, like an ssh key), and
:func:`update_config` always writes it with mode 0600. Secrets print as ``<redacted>``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bucketfs import paths
from bucketfs.auth.privatefile import InsecureFile, write_private
from bucketfs.errors import InvalidArgument

KEYS = (
    "hub",
    "api_key",
    "api_secret",
    "identity",
    "thread",
    "cache_dir",
    "cache_max_size",
    "write_back",
)
SECRET_KEYS = frozenset({"api_secret"})
EMBEDDED_TABLE = "embedded"
DEFAULT_THREAD = "buckets"
#: the ``hub`` value that names the embedded hub (as no hub at all does)
EMBEDDED_HUB = "embedded"
DEFAULT_CACHE_MAX_SIZE = "10G"
REDACTED = "<redacted>"

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


class ConfigError(InvalidArgument):
    """The config file, an environment variable or a flag has an unusable value."""


def parse_size(text: str | int) -> int:
    """Bytes in ``text``: ``1048576``, ``512M``, ``10G``, ``1.5T`` (binary units; ``GiB``/``GB``
    mean the same)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value: float = text
    else:
        match = _SIZE_RE.match(str(text))
        if not match:
            raise ConfigError(f"bad size {text!r}: use a number with an optional K, M, G or T")
        value = float(match.group(1)) * 1024 ** _UNITS[match.group(2).lower()]
    if value <= 0:
        raise ConfigError(f"bad size {text!r}: must be positive")
    return int(value)


@dataclass
class Settings:
    """The resolved settings of one mount; ``sources`` says where each came from."""

    hub: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    identity: Path = field(default_factory=paths.identity_file)
    thread: str = DEFAULT_THREAD
    cache_dir: Path = field(default_factory=paths.cache_dir)
    cache_max_size: int = field(default_factory=lambda: parse_size(DEFAULT_CACHE_MAX_SIZE))
    #: closes go to an on-disk journal, uploaded in the background (docs/SEMANTICS.md)
    write_back: bool = False
    #: key -> "flag", "env", "file" or "default"
    sources: dict[str, str] = field(default_factory=dict)
    #: True when the embedded hub is used (``hub`` unset or ``embedded``); ``hub`` is then
    #: filled with its address when the mount starts it
    embedded_hub: bool = False
    #: the ``[embedded]`` credentials found in the file (used only when ``hub`` is None)
    embedded_key: str | None = None
    embedded_secret: str | None = None

    @property
    def embedded(self) -> bool:
        """True when no hub is configured, so the local embedded hub is used."""
        return not self.hub

    def public_dict(self) -> dict[str, object]:
        """The settings for display: secrets replaced by ``<redacted>``."""
        shown: dict[str, object] = {}
        for f in fields(self):
            if f.name in ("sources", "embedded_hub", "embedded_key", "embedded_secret"):
                continue
            value = getattr(self, f.name)
            if f.name in SECRET_KEYS and value:
                value = REDACTED
            shown[f.name] = str(value) if isinstance(value, Path) else value
        return shown

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.public_dict().items())
        return f"Settings({inner})"


def env_var(key: str) -> str:
    return f"BUCKETFS_{key.upper()}"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The parsed config file (empty when it does not exist); refuses unknown keys, and a file
    holding a secret that other users can read."""
    path = path if path is not None else paths.config_file()
    try:
        with open(path, "rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    embedded = data.get(EMBEDDED_TABLE, {})
    if not isinstance(embedded, dict):
        raise ConfigError(f"config file {path}: [{EMBEDDED_TABLE}] must be a table")
    unknown = sorted(set(data) - set(KEYS) - {EMBEDDED_TABLE})
    if unknown:
        raise ConfigError(f"config file {path}: unknown key {unknown[0]!r} (known: {KEYS})")
    has_secret = bool(data.get("api_secret") or embedded.get("api_secret"))
    if has_secret and mode & 0o077:
        raise InsecureFile(
            f"config file {path} holds an API secret and is accessible by other users "
            f"(mode {mode:04o}); run: chmod 600 {path}"
        )
    return data


def parse_bool(value: object, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{origin}: expected true or false, not {value!r}")


def _convert(key: str, value: object, origin: str) -> object:
    if key == "write_back":
        return parse_bool(value, origin)
    if key == "cache_max_size":
        try:
            return parse_size(value)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc.message}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{origin}: {key} must be a string")
    if key in ("identity", "cache_dir"):
        return Path(value).expanduser().absolute()
    if key == "hub" and value == EMBEDDED_HUB:
        return None
    return value


def resolve(
    flags: Mapping[str, object | None],
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Settings from ``flags`` (None = not given) > environment > config file > defaults."""
    environ = os.environ if environ is None else environ
    config_path = config_path if config_path is not None else paths.config_file()
    data = read_config(config_path)
    settings = Settings()
    for key in KEYS:
        settings.sources[key] = "default"
        candidates = (
            ("flag", flags.get(key), f"--{key.replace('_', '-')}"),
            ("env", environ.get(env_var(key)) or None, env_var(key)),
            ("file", data.get(key), f"config file {config_path}, key {key}"),
        )
        for source, value, origin in candidates:
            if value is None or value == "":
                continue
            setattr(settings, key, _convert(key, value, origin))
            settings.sources[key] = source
            break
    settings.embedded_hub = settings.hub is None
    embedded = data.get(EMBEDDED_TABLE, {})
    settings.embedded_key = embedded.get("api_key") or None
    settings.embedded_secret = embedded.get("api_secret") or None
    return settings


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def dump_config(data: Mapping[str, Any]) -> str:
    """TOML text for a config of flat string/int keys plus the ``[embedded]`` table."""
    lines = ["# bucketfs configuration (see README.md, Configuration); keep this file private"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, values in data.items():
        if isinstance(values, dict):
            lines += ["", f"[{table}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def update_config(
    updates: Mapping[str, object],
    *,
    embedded: Mapping[str, object] | None = None,
    config_path: Path | None = None,
) -> Path:
    """Merge ``updates`` (and ``embedded`` into the ``[embedded]`` table) into the config file
    and write it atomically with mode 0600 (directory 0700 if created). Returns its path."""
    config_path = config_path if config_path is not None else paths.config_file()
    unknown = sorted(set(updates) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r}")
    data = read_config(config_path)
    data.update({k: str(v) if isinstance(v, Path) else v for k, v in updates.items()})
    if embedded:
        data[EMBEDDED_TABLE] = {**data.get(EMBEDDED_TABLE, {}), **embedded}
    write_private(config_path, dump_config(data).encode("utf-8"))
    return config_path
