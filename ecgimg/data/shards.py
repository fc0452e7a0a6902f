"""Training shards: WebDataset-layout tar files of rendered pages, their index and job manifests.

Layout of an output folder written by `ecg-render --format wds --shard I/N`:

* ``pages-IIIIIofNNNNN-PPPP.tar``: samples as consecutive members ``KEY.png`` (or .jpg/.webp),
  ``KEY.json`` (truth), ``KEY.meta.json`` (record, patient, view, split, labels) and any exports
  (``KEY.txt`` YOLO, ``KEY.mask.png``, ``KEY.coco.json``). Any WebDataset reader streams them.
  All of a patient's samples sit together in one tar, so a patient's views can be batched.
* ``pages-...-PPPP.idx.json``: written once the tar is complete: its size, sha256, the settings
  hash, and per sample the byte offset and size of every member (random access without a scan).
* ``manifest-IIIIIofNNNNN.json``: written when job I finished: settings, counts, every tar's hash,
  the records that failed. A dataset is complete when all N job manifests exist.

Written with the standard library's `tarfile`, not the `webdataset` package: bytes must be the same
on every run (fixed member order, mtime 0, uid/gid 0, no user names, mode 0444), and the reader needs
member offsets, which webdataset's writer does not report. Tars go to a temporary name and are
renamed when complete, so a crash never leaves a tar that looks finished.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ecgimg.data.errors import RecordError

FORMAT = "ecgimg.shards/1"
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class ShardError(RecordError):
    """A shard folder or tar that is missing, incomplete, inconsistent or damaged."""


def shard_stem(job: int, jobs: int, part: int) -> str:
    return f"pages-{job:05d}of{jobs:05d}-{part:04d}"


def manifest_path(root: Path, job: int, jobs: int) -> Path:
    return Path(root) / f"manifest-{job:05d}of{jobs:05d}.json"


def index_path(tar_path: Path) -> Path:
    return Path(tar_path).with_suffix(".idx.json")


def sample_key(stem: str) -> str:
    """A WebDataset key: no dots (the first dot starts the extension), no path separators."""
    return _KEY_CHARS.sub("_", stem)


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: Path, value) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(tmp, path)


class ShardWriter:
    """Writes one tar deterministically; `close()` renames it into place and writes its index."""

    def __init__(self, path: Path, settings: dict):
        self.path = Path(path)
        self.settings = settings
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.tar = tarfile.open(self.tmp, "w", format=tarfile.USTAR_FORMAT)
        self.samples: list[dict] = []
        self.failed: list[dict] = []
        self._keys: set[str] = set()

    def add(self, stem: str, files: dict[str, bytes], entry: dict) -> None:
        """One sample: `files` maps an extension ("png", "json", "meta.json", ...) to its bytes;
        `entry` (JSON-able: record, patient, view, labels...) goes into the index."""
        key = sample_key(stem)
        while key in self._keys:  # two stems that sanitise alike stay two samples
            key += "_"
        self._keys.add(key)
        members = {}
        for ext, data in files.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), 0, 0o444
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            header_offset = self.tar.offset
            self.tar.addfile(info, _Bytes(data))
            members[ext] = [header_offset + tarfile.BLOCKSIZE, len(data)]
        self.samples.append({**entry, "key": key, "members": members})

    def close(self) -> dict:
        self.tar.close()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)
        index = {"format": FORMAT, "file": self.path.name, "bytes": self.path.stat().st_size,
                 "sha256": file_sha256(self.path), "settings_sha256": settings_hash(self.settings),
                 "n_samples": len(self.samples), "samples": self.samples, "failed": self.failed}
        _write_json_atomic(index_path(self.path), index)
        return index

    def abort(self) -> None:
        self.tar.close()
        self.tmp.unlink(missing_ok=True)


class _Bytes:
    """Minimal file object over bytes for `TarFile.addfile` (no BytesIO copy)."""

    def __init__(self, data: bytes):
        self.view, self.pos = memoryview(data), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.view) if n < 0 else min(len(self.view), self.pos + n)
        out, self.pos = self.view[self.pos:end].tobytes(), end
        return out


def complete_index(tar_path: Path, settings: dict, verify_hash: bool = True) -> dict | None:
    """The index of a finished tar written with these settings, or None when the tar must be
    (re)written: missing, no index, other settings, or size/hash not as recorded (truncated)."""
    tar_path, idx = Path(tar_path), index_path(tar_path)
    if not (tar_path.is_file() and idx.is_file()):
        return None
    try:
        index = json.loads(idx.read_text())
    except (OSError, ValueError):
        return None
    if index.get("format") != FORMAT or index.get("settings_sha256") != settings_hash(settings):
        return None
    if tar_path.stat().st_size != index.get("bytes"):
        return None
    if verify_hash and file_sha256(tar_path) != index.get("sha256"):
        return None
    return index


def write_manifest(root: Path, job: int, jobs: int, settings: dict, indexes: list[dict], extra: dict) -> Path:
    """Job I's manifest: settings, per-tar counts and hashes, failures; written last (atomically)."""
    path = manifest_path(root, job, jobs)
    failed = [f for index in indexes for f in index["failed"]]
    _write_json_atomic(path, {
        "format": FORMAT, "job": job, "jobs": jobs, "settings": settings,
        "settings_sha256": settings_hash(settings),
        "n_samples": sum(index["n_samples"] for index in indexes),
        "n_records": len({s["record_id"] for index in indexes for s in index["samples"]}),
        "n_failed": len(failed), "failed": failed,
        "shards": [{k: index[k] for k in ("file", "bytes", "sha256", "n_samples")} for index in indexes],
        **extra})
    return path


@dataclass
class ShardSample:
    """One sample of a shard folder: which tar, where its members are, and its index entry."""

    tar: Path
    shard: int  # position of the tar in the folder's sorted list
    entry: dict

    def read(self, ext: str) -> bytes:
        offset, size = self.entry["members"][ext]
        with open(self.tar, "rb") as fh:
            fh.seek(offset)
            data = fh.read(size)
        if len(data) != size:
            raise ShardError(self.tar, f"member {self.entry['key']}.{ext} truncated ({len(data)} of {size} bytes)")
        return data


def open_shards(root: str | Path) -> tuple[dict, list[ShardSample]]:
    """(manifest summary, every sample in tar order) of a complete shard folder.

    Refuses a folder where a job has not finished, jobs used different settings, or a tar's size
    differs from its index (ShardError naming the file)."""
    root = Path(root)
    manifests = sorted(root.glob("manifest-*of*.json"))
    if not manifests:
        raise ShardError(root, "no shard manifests (manifest-IIIIIofNNNNN.json): not an ecg-render --format wds folder, or no job finished")
    loaded = [json.loads(p.read_text()) for p in manifests]
    jobs = {m["jobs"] for m in loaded}
    if len(jobs) != 1:
        raise ShardError(root, f"manifests of different job counts {sorted(jobs)}: mixed runs in one folder")
    n_jobs = jobs.pop()
    missing = sorted(set(range(n_jobs)) - {m["job"] for m in loaded})
    if missing:
        raise ShardError(root, f"jobs {missing} of {n_jobs} have not finished (no manifest); rerun them")
    if len({m["settings_sha256"] for m in loaded}) != 1:
        raise ShardError(root, "jobs were rendered with different settings")
    samples: list[ShardSample] = []
    tars = sorted(root / s["file"] for m in loaded for s in m["shards"])
    for k, tar in enumerate(tars):
        index = json.loads(index_path(tar).read_text())
        if not tar.is_file() or tar.stat().st_size != index["bytes"]:
            raise ShardError(tar, "missing or not the size its index records (truncated?); rerun its job")
        samples += [ShardSample(tar, k, entry) for entry in index["samples"]]
    summary = {"settings": loaded[0]["settings"], "jobs": n_jobs, "n_tars": len(tars),
               "n_samples": len(samples), "failed": [f for m in loaded for f in m["failed"]]}
    return summary, samples
