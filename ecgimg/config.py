"""Typed YAML configs with strict `key=value` overrides, and the run record saved beside every run.

A config is a tree of dataclasses (the schema). YAML files fill it, optionally on top of another
file named by a top-level `base:` key; command-line overrides `a.b.c=value` come last. Every value
is parsed with `yaml.safe_load` and checked against the declared type: unknown keys and wrong types
raise `ConfigError` with the key, what was expected and what was given (nanoGPT-style strictness:
a typo must fail loudly, never be silently ignored).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import platform
import subprocess
import sys
import types
import typing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Union

import yaml

#: Where the shipped presets live (repository checkout / editable install).
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"


class ConfigError(ValueError):
    """A config file or override is invalid: unknown key, wrong type, unreadable file."""


# ----------------------------------------------------------------------------- type checking

def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Return `value` checked (and losslessly converted) to `tp`, or raise ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping (section), got {type(value).__name__} {value!r}")
        return build(tp, value, prefix=key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list ({_type_name(tp)}), got {type(value).__name__} "
                              f"{value!r} (write it as [a, b])")
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {type(value).__name__} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected int, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        # YAML 1.1 reads "1e-4" (no dot) as a string; accept any string that is a plain number.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected float, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected str, got {type(value).__name__} {value!r} "
                              f"(quote it to pass a string: {key.split('[')[0]}='{value}')")
        return value
    raise ConfigError(f"{key}: unsupported schema type {_type_name(tp)}")  # a schema bug


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unknown(key: str, name: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = f" in section {key!r}" if key else ""
    return ConfigError(f"unknown config key {name!r}{where}{hint}; valid keys: {', '.join(sorted(valid))}")


def build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass `cls` from a (nested) mapping, rejecting unknown keys and wrong types."""
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for name, value in values.items():
        if name not in fields:
            raise _unknown(prefix, str(name), list(fields))
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from err


def to_dict(cfg: Any) -> Any:
    """Plain YAML/JSON-able form of a config tree (tuples become lists)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


# ----------------------------------------------------------------------------- files and overrides

def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path as given, or a preset name looked up in `configs/` (`bcl` → `configs/bcl.yaml`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (CONFIGS_DIR / path, CONFIGS_DIR / f"{path}.yaml"):
        if candidate.is_file():
            return candidate
    presets = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")) if CONFIGS_DIR.is_dir() else []
    raise ConfigError(f"config {str(name_or_path)!r} not found (not a file, not a preset; presets: "
                      f"{', '.join(presets) or 'none'})")


def read_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config, merging it over the file named by its optional `base:` key."""
    path = resolve_config_path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: circular `base:` chain {' -> '.join(map(str, _seen + (path,)))}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = Path(base)
    if not base_path.is_absolute() and (path.parent / base_path).is_file():
        base_path = path.parent / base_path
    return deep_merge(read_yaml(base_path, _seen + (path,)), data)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`; mappings merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` → (["a", "b"], yaml.safe_load("value"))."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. train.lr=3e-4)")
    key, raw = text.split("=", 1)
    key = key.strip().lstrip("-")
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {err}") from err
    return key.split("."), value


def apply_overrides(values: dict[str, Any], overrides: list[str], schema: type,
                    aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """Set each dotted override in the raw mapping; keys are checked against `schema` here so a typo
    names the override that made it. `aliases` maps shorthand keys (e.g. `data` → `data.source`)."""
    values = dict(values)
    for text in overrides:
        path, value = parse_override(text)
        dotted = ".".join(path)
        if aliases and dotted in aliases:
            path = aliases[dotted].split(".")
        cls: Any = schema
        node = values
        for depth, name in enumerate(path):
            fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else None
            if fields is not None and name not in fields:
                raise _unknown(".".join(path[:depth]), name, list(fields))
            last = depth == len(path) - 1
            if last:
                node[name] = value
                break
            field_tp = _hints(cls)[name] if fields is not None else Any
            if fields is not None and not dataclasses.is_dataclass(field_tp) \
                    and typing.get_origin(field_tp) is not dict and field_tp is not dict:
                raise ConfigError(f"override {text!r}: {'.'.join(path[:depth + 1])} is a value, "
                                  f"not a section")
            child = node.get(name)
            child = dict(child) if isinstance(child, dict) else {}
            node[name] = child
            node, cls = child, field_tp
    return values


def load_config(schema: type, path: str | Path | None = None, overrides: list[str] = (),
                aliases: dict[str, str] | None = None) -> Any:
    """Schema defaults ← YAML file (with its `base:` chain) ← `key=value` overrides, type-checked."""
    values = read_yaml(path) if path is not None else {}
    values = apply_overrides(values, list(overrides), schema, aliases)
    return build(schema, values)


# ----------------------------------------------------------------------------- run record

def git_commit(cwd: str | Path | None = None) -> str | None:
    """HEAD of the checkout holding ecgimg (or `cwd`), or None outside git / without git."""
    cwd = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def save_run_record(run_dir: str | Path, cfg: Any, extra: dict[str, Any] | None = None) -> Path:
    """Write `config.yaml` (the resolved config) and `run.json` (version, commit, time, argv)."""
    from ecgimg import __version__

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = to_dict(cfg)
    (run_dir / "config.yaml").write_text(
        "# Resolved config of this run (defaults <- file <- overrides). Re-run with:\n"
        "#   ecgimg <command> --config config.yaml\n" + yaml.safe_dump(resolved, sort_keys=False))
    record = {
        "ecgimg_version": __version__,
        "git_commit": git_commit(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import torch
        record["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    record.update(extra or {})
    (run_dir / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return run_dir
