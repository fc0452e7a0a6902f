"""ecg-render's two outputs: loose files per page, or WebDataset tar shards with manifests.

Workers read, render and encode; in file mode they also write, so only small results travel back.
Results are consumed in input order, so outputs (and tar bytes) do not depend on `--workers`.
"""
from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ecgimg.data import shards
from ecgimg.pages.jobs import PageSettings, RecordPages, render_record
from ecgimg.pages.plan import tar_parts
from ecgimg.pages.records import RecordRef
from render import export


@contextmanager
def page_map(workers: int) -> Iterator[Callable]:
    """`map(fn, items)` in input order: in this process, or over `workers` processes."""
    if workers <= 1:
        yield map
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield lambda fn, items: pool.map(fn, items, chunksize=2)


def _write_record_files(job: tuple[RecordRef, PageSettings, Path]) -> RecordPages:
    ref, settings, out = job
    result = render_record(ref, settings)
    for sample in result.samples:
        for ext, data in sample.files.items():
            (out / f"{sample.stem}.{ext}").write_bytes(data)
        sample.files = {}  # written here: do not ship the bytes back to the parent
    return result


def write_files(refs: list[RecordRef], settings: PageSettings, out: Path, workers: int,
                job_tag: str, progress: Callable[[int], None]) -> list[str]:
    """`<stem>.<fmt>` + `<stem>.json` (+ exports) per page; COCO as one file per job. Returns failures."""
    failures, images, annotations = [], [], []
    with page_map(workers) as pmap:
        for result in pmap(_write_record_files, ((ref, settings, out) for ref in refs)):
            if result.error:
                failures.append(result.error)
            for sample in result.samples:
                if sample.coco is not None:
                    image, anns = sample.coco
                    image_id = len(images) + 1
                    images.append({**image, "id": image_id})
                    first = len(annotations) + 1
                    annotations += [{**a, "id": first + j, "image_id": image_id} for j, a in enumerate(anns)]
            progress(1)
    if "coco" in settings.exports:
        (out / f"coco{job_tag}.json").write_text(json.dumps(export.coco_dataset(images, annotations)))
    if "yolo" in settings.exports:
        (out / "classes.txt").write_text("\n".join(export.CATEGORIES) + "\n")
    return failures


def sample_members(sample) -> dict[str, bytes]:
    """A page's tar members: image, truth, meta, exports (COCO as this image's entry + annotations)."""
    files = dict(sample.files)
    files["meta.json"] = json.dumps(sample.meta, sort_keys=True).encode()
    if sample.coco is not None:
        image, anns = sample.coco
        files["coco.json"] = json.dumps({"image": image, "annotations": anns}).encode()
    return files


def write_shards(refs: list[RecordRef], settings: PageSettings, out: Path, workers: int, job: int, jobs: int,
                 records_per_tar: int, progress: Callable[[int], None], log: Callable[[str], None]) -> list[str]:
    """Tars of whole patients for job `job`; complete tars (size and sha256 as indexed, same settings)
    are kept, missing or damaged ones rewritten; the job manifest is written last. Returns failures."""
    config = {**settings.to_dict(), "records_per_tar": records_per_tar, "categories": list(export.CATEGORIES)}
    indexes = []
    with page_map(workers) as pmap:
        for part, part_refs in enumerate(tar_parts(refs, records_per_tar)):
            tar = out / f"{shards.shard_stem(job, jobs, part)}.tar"
            for orphan in out.glob(f".{tar.name}.tmp-*"):  # left by a killed run
                orphan.unlink()
            index = shards.complete_index(tar, config)
            if index is not None:
                log(f"kept complete {tar.name} ({index['n_samples']} samples)")
                progress(len(part_refs))
            else:
                index = _write_tar(tar, part_refs, settings, config, pmap, progress)
            indexes.append(index)
    shards.write_manifest(out, job, jobs, config, indexes, {"n_tars": len(indexes)})
    return [f"{f['path']}: {f['error']}" for index in indexes for f in index["failed"]]


def _write_tar(tar: Path, refs: list[RecordRef], settings: PageSettings, config: dict, pmap,
               progress: Callable[[int], None]) -> dict:
    writer = shards.ShardWriter(tar, config)
    try:
        for ref, result in zip(refs, pmap(_render_pair, ((ref, settings) for ref in refs))):
            if result.error:
                writer.failed.append({"record_id": ref.record_id, "path": ref.path,
                                      "error": result.error.split(": ", 1)[1]})
            for sample in result.samples:
                entry = {k: sample.meta[k] for k in ("record_id", "patient_id", "identity", "view", "split", "position",
                                                     "labels", "image_size", "cell_quads")}
                writer.add(sample.stem, sample_members(sample), {**entry, "image": settings.image_format})
            progress(1)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def _render_pair(pair: tuple[RecordRef, PageSettings]) -> RecordPages:
    return render_record(*pair)
