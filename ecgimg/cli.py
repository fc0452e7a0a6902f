"""`ecgimg` command line: pretrain | finetune | evaluate | predict | compare | demo | data check.

Experiment commands take `--config NAME_OR_PATH` (a preset in `configs/` or a YAML file) followed
by `key=value` overrides with dotted keys, e.g.

    ecgimg pretrain --config bcl train.lr=3e-4 data=ptbxl:../shared/data/ptbxl
    ecgimg demo data=ptbxl:../shared/data/ptbxl

Unknown keys and wrong types stop the command with a message naming the key. Every other mistake
(an unknown model, a data path that does not exist, a checkpoint that does not load, a bad
record) ends in one line on stderr and a non-zero exit, never a traceback: exit 2 for config
errors found before any work starts, 1 for failures while running, 130 when interrupted.
`ecgimg --traceback COMMAND ...` (or ECGIMG_TRACEBACK=1) shows the traceback instead. Heavy
imports (torch, models) happen inside each command so `ecgimg --help` stays instant.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

EXPERIMENT_COMMANDS = {
    "pretrain": ("self-supervised pretraining (MAE on signals; BCL or SimCLR on rendered images)",
                 None),
    "finetune": ("supervised fine-tuning at one or more label fractions with an LR sweep; saves "
                 "test predictions", None),
    "evaluate": ("score a trained model (model.init=CHECKPOINT) on a split and save its predictions",
                 None),
    "demo": ("the whole story on the embedded synthetic cohort (or data=ptbxl:PATH), 12-18 min "
             "on 2 cores: gallery, MAE, BCL, SimCLR, fine-tuning at two label fractions, report",
             "demo"),
}

_OVERRIDE_HELP = ("key=value overrides with dotted keys (values parsed as YAML), e.g. train.lr=3e-4 "
                  "data.batch_size=16; shorthands: data=SOURCE, model=NAME, task=TASK, out=DIR")


def _add_experiment_parser(sub: argparse._SubParsersAction, name: str, help_text: str,
                           default_config: str | None) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    if default_config is None:
        parser.add_argument("-c", "--config", required=True,
                            help="preset name in configs/ (e.g. bcl, mae_paper) or a YAML path")
    else:
        parser.add_argument("-c", "--config", default=default_config,
                            help=f"preset name in configs/ or a YAML path (default: {default_config})")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config as YAML and exit without running")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=_OVERRIDE_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecgimg", description="Deep learning on ECGs as images and as signals.",
        epilog="Run `ecgimg COMMAND --help` for each command's options.")
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, show the full traceback instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, default_config) in EXPERIMENT_COMMANDS.items():
        _add_experiment_parser(sub, name, help_text, default_config)

    compare = sub.add_parser(
        "compare", help="build the comparison report from saved predictions (no retraining)",
        description="Build report.md + CSV tables + ROC / label-efficiency figures from the "
                    "prediction files of several runs. Each INPUT is a predictions CSV or a "
                    "directory searched recursively for them.")
    compare.add_argument("inputs", nargs="+", metavar="INPUT", help="prediction files or run dirs")
    compare.add_argument("-o", "--out", required=True, help="report directory")
    compare.add_argument("--reference", default=None,
                         help="model name the p-values compare against (default: first)")
    compare.add_argument("--n-boot", type=int, default=1000, help="patient-bootstrap resamples")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--title", default="ecgimg comparison")

    predict = sub.add_parser(
        "predict", help="run a fine-tuned image model on a folder of real scans and write a CSV",
        description="Run a fine-tuned image model on a folder of real ECG scans/photos (PNG, JPEG, "
                    "BMP, TIFF...) and write one CSV row per file: class probabilities, or "
                    "embeddings with --head projection. Unreadable files get an error column.")
    predict.add_argument("folder", help="folder of scans (searched recursively)")
    predict.add_argument("-o", "--out", required=True, help="CSV to write")
    predict.add_argument("--run", help="fine-tuning run directory (model, input size, classes, "
                                       "best checkpoint are read from it)")
    predict.add_argument("--fraction", type=float, default=None,
                         help="with --run: which label fraction's model (default: the largest)")
    predict.add_argument("--model", help="registry name, with --weights and --classes")
    predict.add_argument("--weights", help="classifier weights (.pt checkpoint or .safetensors)")
    predict.add_argument("--classes", help="comma-separated class names, in output order")
    predict.add_argument("--image-size", type=int, default=None, help="input side in px")
    predict.add_argument("--batch-size", type=int, default=16)
    predict.add_argument("--head", choices=("logits", "projection", "features"), default=None,
                         help="output: probabilities (default) or embeddings")

    data = sub.add_parser("data", help="data utilities (`ecgimg data check PATH`)",
                          description="Data utilities.")
    data_sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data_sub.required = True
    check = data_sub.add_parser(
        "check", help="read and canonicalise every record under PATH; report the bad ones",
        description="Read and canonicalise every record under PATH and print the report of bad "
                    "records (file, reason). Options are those of ecgimg.data.check.",
        add_help=False)
    check.add_argument("args", nargs=argparse.REMAINDER)

    gallery = sub.add_parser(
        "render-gallery", help="render a contact sheet of random training pages from a config's data",
        description="Render N random pages of the configured data as the image models see them "
                    "and write one contact-sheet PNG.")
    gallery.add_argument("-c", "--config", default="demo")
    gallery.add_argument("-o", "--out", required=True, help="PNG path of the contact sheet")
    gallery.add_argument("-n", "--n-images", type=int, default=12)
    gallery.add_argument("--training-size", action="store_true",
                         help="draw pages at the model input size instead of full pages")
    gallery.add_argument("overrides", nargs="*", metavar="key=value", help=_OVERRIDE_HELP)
    return parser


def _load(args: argparse.Namespace):
    from ecgimg.config import load_config
    from ecgimg.experiments.schema import ALIASES, ExperimentConfig
    return load_config(ExperimentConfig, args.config, args.overrides, aliases=ALIASES)


def _runner(command: str) -> Callable:
    from ecgimg import experiments
    return {"pretrain": experiments.run_pretrain, "finetune": experiments.run_finetune,
            "evaluate": experiments.run_evaluate, "demo": experiments.run_demo}[command]


def _delegate(module_name: str, argv: list[str]) -> int:
    import importlib
    module = importlib.import_module(module_name)
    result = module.main(argv)
    return int(result or 0)


def preflight(command: str, cfg) -> None:
    """Mistakes a run would otherwise find only after minutes of work (building a cache,
    training): a data source or weights file that does not exist, a task the source does not
    have, an unknown model. Raises `ConfigError` naming the key; cheap checks come first."""
    from ecgimg.config import ConfigError

    if command != "demo":
        if cfg.model.init and not Path(cfg.model.init).is_file():
            raise ConfigError(f"model.init {cfg.model.init!r}: no such file")
        if command == "evaluate" and not cfg.model.init:
            raise ConfigError("ecgimg evaluate needs the trained weights: model.init=PATH (a "
                              "fine-tuning best.pt or .safetensors)")
    _check_source(command, cfg)
    if command != "demo":
        _check_model_name(cfg.model.name)  # imports the model registry (torch): last


def _check_source(command: str, cfg) -> None:
    from ecgimg.config import ConfigError
    from ecgimg.experiments import sources

    try:
        kind, path = sources.parse_source(cfg.data.source)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if kind == "synthetic" or (kind != "cache" and sources.cache_dir_for(cfg).is_dir()):
        return  # the cache exists (or will be generated): the source path is not read
    source = Path(path)
    needed = {"ptbxl": source / "ptbxl_database.csv", "cache": source / "cache.json",
              "wfdb": source}[kind]
    if not source.is_dir():
        raise ConfigError(f"data.source {cfg.data.source!r}: no such folder {str(source)!r}")
    if not needed.exists():
        raise ConfigError(f"data.source {cfg.data.source!r}: {source} has no {needed.name} "
                          f"(not a {'PTB-XL root' if kind == 'ptbxl' else 'signal cache'})")
    if command in ("finetune", "evaluate"):
        _check_task(cfg, kind, source)


def _check_model_name(name: str) -> None:
    import difflib

    from ecgimg.config import ConfigError
    from ecgimg.models import list_models

    if name.startswith("timm:"):
        import timm
        if not timm.is_model(name[len("timm:"):]):
            raise ConfigError(f"model.name {name!r}: timm has no architecture "
                              f"{name[len('timm:'):]!r} (see timm.list_models())")
        return
    known = list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        raise ConfigError(f"model.name {name!r} is not a registered model"
                          + (f" (did you mean {', '.join(map(repr, close))}?)" if close else "")
                          + "; see ecgimg.models.list_models(), or use timm:<name>")


def _check_task(cfg, kind: str, source: Path) -> None:
    import json

    from ecgimg.config import ConfigError

    if kind == "ptbxl":
        from ecgimg.data.ptbxl import PTBXL_TASKS
        tasks = [*PTBXL_TASKS, "sex", "age"]
    elif kind == "cache":
        tasks = sorted(json.loads((source / "cache.json").read_text()).get("tasks", {}))
    else:
        return  # a WFDB folder's tasks are known only once its headers are read
    if cfg.data.task not in tasks:
        raise ConfigError(f"data.task {cfg.data.task!r}: {cfg.data.source} has tasks "
                          f"{', '.join(tasks)}")


def _report(command: str, exc: BaseException, traceback: bool) -> int:
    """One line on stderr for a failed command (or re-raise with --traceback); the exit code."""
    from ecgimg.config import ConfigError

    if traceback:
        raise exc
    if isinstance(exc, KeyboardInterrupt):
        print(f"ecgimg {command}: interrupted", file=sys.stderr)
        return 130
    message = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else str(exc)
    if isinstance(exc, ConfigError):
        print(f"ecgimg {command}: config error: {message}", file=sys.stderr)
        return 2
    where = "" if _is_user_error(exc) else f" ({type(exc).__name__}; --traceback shows where)"
    print(f"ecgimg {command}: error: {message or type(exc).__name__}{where}", file=sys.stderr)
    return 1


def _is_user_error(exc: BaseException) -> bool:
    """Errors whose message is written for the user: bad data, files, checkpoints, values."""
    from ecgimg.data.errors import PatientLeakError, RecordError
    from ecgimg.weights import CheckpointError

    return isinstance(exc, (RecordError, PatientLeakError, CheckpointError, OSError, ValueError,
                            KeyError, FloatingPointError))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    traceback = os.environ.get("ECGIMG_TRACEBACK") == "1"
    if argv[:1] == ["--traceback"]:
        traceback, argv = True, argv[1:]
    # `data check` forwards every remaining argument (including --help) to its owner.
    if argv[:2] == ["data", "check"]:
        try:
            return _delegate("ecgimg.data.check", argv[2:])
        except (Exception, KeyboardInterrupt) as exc:
            return _report("data check", exc, traceback)

    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (Exception, KeyboardInterrupt) as exc:
        return _report(args.command, exc, traceback or args.traceback)


def _run(args: argparse.Namespace) -> int:
    if args.command in EXPERIMENT_COMMANDS:
        cfg = _load(args)
        if args.print_config:
            import yaml

            from ecgimg.config import to_dict
            print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
            return 0
        preflight(args.command, cfg)
        try:
            result = _runner(args.command)(cfg)
        finally:  # under torchrun: leave the process group without racing rank 0's store
            from ecgimg.distributed import shutdown
            shutdown()
        print(f"done: {result}")
        return 0
    if args.command == "compare":
        from ecgimg.experiments import run_compare
        report = run_compare(args.inputs, args.out, reference=args.reference,
                             n_boot=args.n_boot, seed=args.seed, title=args.title)
        print(f"report: {report}")
        return 0
    if args.command == "predict":
        from ecgimg.experiments.scans import run_predict
        if not Path(args.folder).is_dir():
            raise FileNotFoundError(f"{args.folder}: no such folder of scans")
        if args.run is not None and not (Path(args.run) / "config.yaml").is_file():
            raise FileNotFoundError(f"--run {args.run}: not a fine-tuning run directory (no "
                                    "config.yaml)")
        classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
        table = run_predict(args.folder, args.out, run=args.run, fraction=args.fraction,
                            model=args.model, weights=args.weights, classes=classes,
                            image_size=args.image_size, batch_size=args.batch_size,
                            head=args.head)
        n_bad = int((table["error"] != "").sum()) if "error" in table else 0
        print(f"{len(table)} images -> {args.out} ({n_bad} unreadable)")
        return 0
    if args.command == "render-gallery":
        from ecgimg.experiments import render_gallery
        cfg = _load(args)
        path = render_gallery(cfg, args.out, n_images=args.n_images,
                              training_size=args.training_size)
        print(f"contact sheet: {path}")
        return 0
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
