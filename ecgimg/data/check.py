"""``ecgimg data check PATH``: read and canonicalise every record under PATH, report bad ones.

Exit status 0 when every record is usable, 1 when any is bad (or none was found), so the
command can guard a data pipeline. ``--json`` prints the same machine-readable report that
`build_cache` writes to ``report.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Sequence

from ecgimg.data.canonical import canonicalize
from ecgimg.data.errors import RecordError
from ecgimg.data.folder import record_paths
from ecgimg.data.readers import load_record


def check_records(path: str, fs: float = 500, seconds: float = 10.0,
                  derive_limb_leads: bool = False, min_seconds: float | None = None) -> dict:
    """Report {n_records, n_ok, n_bad, skipped: [{file, reason, error_type}]} for a folder/file."""
    skipped = []
    paths = record_paths(path)
    for base in paths:
        try:
            canonicalize(load_record(base), fs=fs, seconds=seconds,
                         derive_limb_leads=derive_limb_leads, min_seconds=min_seconds)
        except RecordError as exc:
            skipped.append({"file": exc.path or str(base), "reason": exc.reason,
                            "error_type": type(exc).__name__})
    return {"n_records": len(paths), "n_ok": len(paths) - len(skipped), "n_bad": len(skipped),
            "skipped": skipped}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecgimg data check", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a record (with or without extension) or a folder")
    parser.add_argument("--fs", type=float, default=500.0, help="canonical rate, Hz")
    parser.add_argument("--seconds", type=float, default=10.0, help="canonical window, s")
    parser.add_argument("--min-seconds", type=float, default=None,
                        help="shortest acceptable record (s); shorter ones are zero-padded")
    parser.add_argument("--derive-limb-leads", action="store_true",
                        help="derive missing limb leads from two of I/II/III")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = check_records(args.path, fs=args.fs, seconds=args.seconds,
                           derive_limb_leads=args.derive_limb_leads,
                           min_seconds=args.min_seconds)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for bad in report["skipped"]:
            print(f"BAD  {bad['file']}: {bad['error_type']}: {bad['reason']}")
        kinds = Counter(bad["error_type"] for bad in report["skipped"])
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        print(f"{report['n_records']} records: {report['n_ok']} ok, {report['n_bad']} bad"
              + (f" ({summary})" if summary else ""))
    if report["n_records"] == 0:
        print(f"no records found under {args.path}", file=sys.stderr)
        return 1
    return 1 if report["n_bad"] else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
