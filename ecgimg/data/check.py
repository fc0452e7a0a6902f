"""``ecgimg data check PATH``: read and canonicalise every record under PATH, report bad ones.

Exit status 0 when every record is usable, 1 when any is bad (or none was found, or PATH does
not exist), so the command can guard a data pipeline; with ``--strict`` a record kept with a
warning (a flagged lead, a header field wfdb would have guessed) counts as bad too. One line per
problem, never a traceback. ``--json`` prints the same machine-readable report that
`build_cache` writes to ``report.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Sequence

from ecgimg.data.cache import canonical_records
from ecgimg.data.errors import RecordError
from ecgimg.data.folder import record_paths


def check_records(path: str, fs: float = 500, seconds: float = 10.0,
                  derive_limb_leads: bool = False, min_seconds: float | None = None) -> dict:
    """Report {n_records, n_ok, n_bad, skipped: [{file, reason, error_type}], n_with_warnings,
    warnings: [{file, record_id, warnings}]} for a record or a folder (same policy as
    `build_cache`). A missing path raises `UnreadableRecordError`."""
    paths = record_paths(path)
    skipped, warned = [], []
    for item in canonical_records([str(p) for p in paths], fs, seconds,
                                  derive_limb_leads=derive_limb_leads, min_seconds=min_seconds):
        if item.problem is not None:
            skipped.append({**item.problem, "file": item.problem["file"]
                            or str(paths[item.position])})
        elif item.warnings:
            warned.append({"file": item.record.meta.get("path") or str(paths[item.position]),
                           "record_id": item.record.record_id, "warnings": item.warnings})
    return {"n_records": len(paths), "n_ok": len(paths) - len(skipped), "n_bad": len(skipped),
            "skipped": skipped, "n_with_warnings": len(warned), "warnings": warned}


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecgimg data check", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a record (with or without extension) or a folder")
    parser.add_argument("--fs", type=_positive, default=500.0, help="canonical rate, Hz")
    parser.add_argument("--seconds", type=_positive, default=10.0, help="canonical window, s")
    parser.add_argument("--min-seconds", type=_positive, default=None,
                        help="shortest acceptable record (s); shorter ones are zero-padded")
    parser.add_argument("--derive-limb-leads", action="store_true",
                        help="derive missing limb leads from two of I/II/III")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 on warnings too (flagged leads, guessed header fields)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = check_records(args.path, fs=args.fs, seconds=args.seconds,
                               derive_limb_leads=args.derive_limb_leads,
                               min_seconds=args.min_seconds)
    except RecordError as err:
        print(f"ecgimg data check: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for bad in report["skipped"]:
            print(f"BAD  {bad['file']}: {bad['error_type']}: {bad['reason']}")
        for entry in report["warnings"]:
            print(f"WARN {entry['file']}: {'; '.join(entry['warnings'])}")
        kinds = Counter(bad["error_type"] for bad in report["skipped"])
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        print(f"{report['n_records']} records: {report['n_ok']} ok, {report['n_bad']} bad"
              + (f" ({summary})" if summary else "")
              + (f"; {report['n_with_warnings']} with warnings" if report["warnings"] else ""))
    if report["n_records"] == 0:
        print(f"no records found under {args.path}", file=sys.stderr)
        return 1
    return 1 if report["n_bad"] or (args.strict and report["n_with_warnings"]) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
