"""YAML configs that map 1:1 to constructor arguments, with dotted command-line overrides."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

SECTIONS = ("data", "views", "encoder", "method", "trainer", "monitor")
TOP_LEVEL = ("run_dir",)


class ConfigError(ValueError):
    """An unknown or malformed configuration key; the message names it and lists valid keys."""


def accepted_keys(fn: Callable[..., Any], skip: Sequence[str] = ()) -> list[str] | None:
    """Keyword names ``fn`` accepts (None if it takes ``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_keys(section: str, given: dict[str, Any], fn: Callable[..., Any], skip: Sequence[str] = ()) -> None:
    """Raise ConfigError naming every key of ``given`` that ``fn`` does not take."""
    valid = accepted_keys(fn, skip)
    if valid is None:
        return
    unknown = [k for k in given if k not in valid]
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; valid keys for "
                          f"{section}: {', '.join(valid)}")


def load_config(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    try:
        cfg = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({e})") from e
    if not isinstance(cfg, dict):
        raise ConfigError(f"{p}: the top level must be a mapping with sections {', '.join(SECTIONS)}")
    return cfg


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as YAML: numbers, lists, null)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. trainer.lr=0.1")
        parts = key.strip().split(".")
        node = cfg
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return cfg


def validate_sections(cfg: dict[str, Any]) -> None:
    unknown = [k for k in cfg if k not in SECTIONS and k not in TOP_LEVEL]
    if unknown:
        raise ConfigError(f"unknown config section(s) {', '.join(unknown)}; valid: "
                          f"{', '.join((*SECTIONS, *TOP_LEVEL))}")
    for s in SECTIONS:
        if s in cfg and not isinstance(cfg[s], dict):
            raise ConfigError(f"config section {s!r} must be a mapping of key: value")
