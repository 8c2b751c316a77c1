"""``python -m raycxr.train``: train and evaluate one Mobile Freeze-Net configuration."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from raycxr.experiment import TRAIN_CHECKPOINT, TRAIN_METRICS, jsonable
from raycxr.train._cli import add_config_options, run_from_args
from raycxr.train._config import TrainConfig
from raycxr.train._data import prepare_data, split_statistics
from raycxr.train._loop import fit
from raycxr.train._state import FitState


def run(cfg: TrainConfig) -> dict[str, object]:
    """Train ``cfg`` end to end; write ``metrics.json`` and ``best.pt`` into ``cfg.out``."""
    if cfg.out is None:
        raise ValueError("No output directory given (--out PATH).")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data = prepare_data(cfg)
    split = data.splits[cfg.fold]
    stats = split_statistics(data, split, cfg) if cfg.loss == "attention" else None

    def save(state: dict[str, torch.Tensor], epoch: int, rule: dict[str, object] | None) -> None:
        checkpoint = {
            "model": state,
            "classes": list(data.classes),
            "epoch": epoch,
            "config": cfg.model_dump(mode="json"),
            "decision": rule,
        }
        torch.save(checkpoint, out / TRAIN_CHECKPOINT)

    def on_epoch(row: dict[str, float], state: FitState, is_best: bool) -> None:
        print(" ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
        if is_best:  # the evaluated weights (the EMA's when it is on)
            save(state.best_state, int(row["epoch"]), state.best_rule)

    result = fit(cfg, data.images, data.labels, data.classes, split, stats, data.holdout, on_epoch)
    rule = result.rule.to_dict() if result.rule is not None else None
    save(result.model.state_dict(), result.best_epoch, rule)
    metrics = {
        "config": cfg.model_dump(mode="json"),
        "classes": list(data.classes),
        "class_counts": data.index.class_counts.tolist(),
        "split_sizes": {
            "train": len(split.train),
            "val": len(split.val),
            "test": len(split.test),
            "holdout": len(data.holdout),
            "unassigned": len(data.unassigned),
        },
        "loss": result.loss_info,
        "parameters": result.parameters,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "seconds": result.seconds,
        "ood_seconds": result.ood_seconds,  # of "seconds": fitting the feature OOD score
        "cached_blocks": result.cached_blocks,
        "history": result.history,
        "decision": rule,
        "val": result.val,
        "test": result.test,
        "holdout": result.holdout,
        "bad_files": data.bad,
    }
    (out / TRAIN_METRICS).write_text(json.dumps(jsonable(metrics), indent=2))
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m raycxr.train",
        description="Train one Mobile Freeze-Net configuration and evaluate it on validation, test and holdout images. "
        "Writes OUT/metrics.json and the best checkpoint OUT/best.pt.",
    )
    add_config_options(parser, TrainConfig)
    args = parser.parse_args(argv)
    metrics = run_from_args(parser, args, TrainConfig, run)
    test = metrics["test"]
    first = f"accuracy {test['accuracy']:.4f}" if "accuracy" in test else f"macro AUC {test['auc_ovr_macro']:.4f}"
    print(
        f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}: test {first}, "
        f"macro-F1 {test['f1_macro']:.4f}; wrote {Path(metrics['config']['out']) / TRAIN_METRICS}",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
