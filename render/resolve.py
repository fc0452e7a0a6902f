"""One way to turn a user's spec argument (preset name, dict from `to_dict`, or spec) into a spec."""
from __future__ import annotations


def resolve_spec(value, cls, presets: dict, kind: str):
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls.from_dict(value)
    if isinstance(value, str):
        if value not in presets:
            raise ValueError(f"unknown {kind} {value!r}; presets: {sorted(presets)}")
        return presets[value]
    raise TypeError(f"{kind} must be a preset name, dict or {cls.__name__}, not {type(value).__name__}")
