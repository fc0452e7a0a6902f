"""`ecgimg` command line: pretrain | finetune | evaluate | predict | compare | demo | data check.

Experiment commands take `--config NAME_OR_PATH` (a preset in `configs/` or a YAML file) followed
by `key=value` overrides with dotted keys, e.g.

    ecgimg pretrain --config bcl train.lr=3e-4 data=ptbxl:../shared/data/ptbxl
    ecgimg demo data=ptbxl:../shared/data/ptbxl

Unknown keys and wrong types stop the command with a message naming the key. Heavy imports (torch,
models) happen inside each command so `ecgimg --help` stays instant.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

EXPERIMENT_COMMANDS = {
    "pretrain": ("self-supervised pretraining (MAE on signals; BCL or SimCLR on rendered images)",
                 None),
    "finetune": ("supervised fine-tuning at one or more label fractions with an LR sweep; saves "
                 "test predictions", None),
    "evaluate": ("score a trained model (model.init=CHECKPOINT) on a split and save its predictions",
                 None),
    "demo": ("the whole story on the embedded synthetic cohort (or data=ptbxl:PATH) in ~10 min: "
             "gallery, MAE, BCL, SimCLR, fine-tuning at two label fractions, report", "demo"),
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `data check` forwards every remaining argument (including --help) to its owner.
    if argv[:2] == ["data", "check"]:
        return _delegate("ecgimg.data.check", argv[2:])

    args = build_parser().parse_args(argv)
    from ecgimg.config import ConfigError
    try:
        if args.command in EXPERIMENT_COMMANDS:
            cfg = _load(args)
            if args.print_config:
                import yaml

                from ecgimg.config import to_dict
                print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
                return 0
            try:
                result = _runner(args.command)(cfg)
            finally:  # under torchrun: leave the process group without racing rank 0's store
                from ecgimg.train.distributed import shutdown
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
    except ConfigError as err:
        print(f"ecgimg {args.command}: config error: {err}", file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
