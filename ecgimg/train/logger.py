"""Run logs: one JSON line per event in `metrics.jsonl`, optional TensorBoard scalars; rank 0 only.

(Named `logger.py`, not `logging.py`, so it never shadows the standard library module.)
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from ecgimg import distributed


def _plain(value: Any) -> Any:
    """JSON-safe scalar: tensors/numpy to Python numbers, non-finite floats to strings."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLogger:
    """Appends events to out_dir/metrics.jsonl (and TensorBoard) on the main process only."""

    def __init__(self, out_dir: str | Path, tensorboard: bool = False):
        self.enabled = distributed.is_main_process()
        self.path = Path(out_dir) / "metrics.jsonl"
        self._writer = None
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter  # lazy: heavy import

                self._writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"))

    def log(self, event: str, step: int, **values: Any) -> dict[str, Any]:
        record = {"event": event, "step": int(step), "time": round(time.time(), 3)}
        record.update({k: _plain(v) for k, v in values.items()})
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            if self._writer is not None:
                for key, value in record.items():
                    if key not in ("event", "step", "time") and isinstance(value, (int, float)) \
                            and not isinstance(value, bool):
                        self._writer.add_scalar(f"{event}/{key}", value, global_step=int(step))
        return record

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
