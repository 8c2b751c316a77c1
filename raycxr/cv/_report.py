"""Tables, figures and ``report.md`` of a cross-validation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
from sklearn.manifold import TSNE
from sklearn.metrics import roc_curve

from raycxr.cv._configs import PUBLISHED_TABLE1, TABLE1
from raycxr.cv._final import FinalTest
from raycxr.cv._run import FoldRun
from raycxr.cv._stats import corrected_resampled_ttest
from raycxr.evaluation import MULTILABEL_METRICS, SCALAR_METRICS

COMPARED = ("f1_macro", "accuracy", "auc_ovr_macro")
#: A multi-label fold's per-label metrics in the fold table (``auc/<label>``…).
LABEL_METRICS = ("auc", "ap", "f1")


def folds_table(runs: list[FoldRun], classes: tuple[str, ...], multilabel: bool = False) -> pd.DataFrame:
    """One row per configuration × fold × set (the fold's test rows) × metric.

    Single-label: the scalars, each class's sensitivity and specificity. Multi-label: the
    multi-label scalars and each label's AUC, AP and F1 (``auc/<label>``; NaN when undefined in a fold).
    """
    rows = []
    for run in runs:
        if run.metrics is None:
            continue
        for part in ("test",):
            metrics = run.metrics.get(part)
            if not metrics:
                continue
            values = {m: metrics[m] for m in (MULTILABEL_METRICS if multilabel else SCALAR_METRICS) if m in metrics}
            if multilabel:
                values |= {f"{m}/{c}": metrics[f"{m}/{c}"] for m in LABEL_METRICS for c in classes}
            else:
                values |= {f"sensitivity_{c}": metrics["sensitivity"][c] for c in classes}
                values |= {f"specificity_{c}": metrics["specificity"][c] for c in classes}
            for metric, value in values.items():
                rows.append({"config": run.config, "fold": run.fold, "set": part, "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=["config", "fold", "set", "metric", "value"])


def summary_table(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and number of folds per configuration, set and metric."""
    grouped = folds.groupby(["config", "set", "metric"], sort=False)["value"]
    return grouped.agg(mean="mean", std=lambda v: v.std(ddof=1), folds="count").reset_index()


def comparisons_table(folds: pd.DataFrame, runs: list[FoldRun], reference: str) -> pd.DataFrame:
    """Every configuration against ``reference`` on the same test folds (corrected resampled t-test)."""
    test = folds[folds["set"] == "test"]
    sizes = [r.metrics["sizes"] for r in runs if r.metrics is not None]
    n_train = float(np.mean([s["train"] for s in sizes]))
    n_test = float(np.mean([s["test"] for s in sizes]))
    rows = []
    if reference not in set(test["config"]):
        return pd.DataFrame()
    for config in dict.fromkeys(test["config"]):
        if config == reference:
            continue
        for metric in COMPARED:
            a = test[(test["config"] == config) & (test["metric"] == metric)].set_index("fold")["value"]
            b = test[(test["config"] == reference) & (test["metric"] == metric)].set_index("fold")["value"]
            common = a.index.intersection(b.index)
            if len(common) < 2:
                continue
            result = corrected_resampled_ttest(a[common].to_numpy(), b[common].to_numpy(), n_train, n_test)
            rows.append({
                "config": config, "reference": reference, "metric": metric, "mean_difference": result.mean,
                "ci95_low": result.ci_low, "ci95_high": result.ci_high, "t": result.t, "p": result.p,
                "folds": result.folds,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _save(fig: plt.Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def plot_confusion(runs: list[FoldRun], config: str, classes: tuple[str, ...], path: Path) -> str:
    """Test confusion matrix summed over folds, rows normalised (counts annotated)."""
    cm = sum(np.array(r.metrics["test"]["confusion_matrix"]) for r in runs if r.config == config and r.metrics)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{cm[i, j]}\n{rates[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{config}: test confusion matrix (all folds)")
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    return _save(fig, path)


def _one_vs_rest(truth: np.ndarray, proba: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Class ``k`` against the rest (single-label), or label ``k`` on its known entries (multi-label, 2-D truth)."""
    if truth.ndim == 2:
        known = ~np.isnan(truth[:, k])
        return truth[known, k] == 1, proba[known, k]
    return truth == k, proba[:, k]


def plot_roc(runs: list[FoldRun], config: str, labels: np.ndarray, classes: tuple[str, ...], path: Path) -> str:
    """One-vs-rest ROC curve of every class (a multi-label task: of every label, on its known entries), test
    predictions of all folds pooled."""
    mine = [r for r in runs if r.config == config and r.evaluation is not None]
    proba = np.concatenate([r.evaluation["test_proba"] for r in mine])
    truth = labels[np.concatenate([r.evaluation["test_rows"] for r in mine])]
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    for k, name in enumerate(classes):
        positive, score = _one_vs_rest(truth, proba, k)
        if 0 < positive.sum() < len(positive):
            fpr, tpr, _ = roc_curve(positive, score)
            ax.plot(fpr, tpr, label=f"{name} (AUC {np.trapezoid(tpr, fpr):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate (1 − specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(f"{config}: ROC per {'label' if truth.ndim == 2 else 'class'} (test, all folds)")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_learning_curves(runs: list[FoldRun], config: str, path: Path) -> str:
    """Training and validation loss per epoch of every fold."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for run in (r for r in runs if r.config == config and r.metrics):
        history = pd.DataFrame(run.metrics["history"])
        axes[0].plot(history["epoch"], history["train_loss"], marker=".", label=f"fold {run.fold}")
        axes[1].plot(history["epoch"], history["val_loss"], marker=".", label=f"fold {run.fold}")
    for ax, title in zip(axes, ("training loss", "validation loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title(f"{config}: {title}")
    axes[1].legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_tsne(run: FoldRun, labels: np.ndarray, classes: tuple[str, ...], seed: int, path: Path) -> str:
    """t-SNE of the penultimate-layer features on the run's test fold, coloured by true class."""
    features = run.evaluation["test_embedding"]
    truth = labels[run.evaluation["test_rows"]]
    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    points = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(features)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    for k, name in enumerate(classes):
        mask = truth == k
        ax.scatter(points[mask, 0], points[mask, 1], s=10, label=name)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(f"{run.config}, fold {run.fold}: t-SNE of the feature layer (test)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_search(study_file: Path, name: str, out: Path) -> tuple[list[str], str]:
    """Optuna's optimisation history and parameter importances of the search (when possible)."""
    if not study_file.is_file():
        return [], "the search's Optuna study (optuna.db) was not found"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{study_file}")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # its matplotlib plots
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    files = []
    ax = optuna.visualization.matplotlib.plot_optimization_history(study)
    files.append(_save(ax.figure, out / "search_history.png"))
    if len(complete) >= 2 and any(t.params for t in complete):
        try:
            ax = optuna.visualization.matplotlib.plot_param_importances(study)
            files.append(_save(ax.figure, out / "search_importances.png"))
        except (ValueError, RuntimeError) as error:  # e.g. every trial with the same value
            return files, f"parameter importances not computable: {error}"
    else:
        return files, "parameter importances need at least 2 finished trials with parameters"
    return files, ""


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}" if np.isfinite(std) else f"{mean:.4f}"


def _ci(value: float, low: float, high: float) -> str:
    if not np.isfinite(value):
        return "—"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if np.isfinite(low) else f"{value:.3f}"


def _table(frame: pd.DataFrame, columns: dict[str, str], digits: int = 3) -> list[str]:
    """A markdown table of ``frame``'s ``columns`` (name → header); floats rounded."""
    lines = ["| " + " | ".join(columns.values()) + " |", "|---" * len(columns) + "|"]
    for _, row in frame.iterrows():
        cells = []
        for name in columns:
            value = row.get(name)
            if isinstance(value, float):
                cells.append("—" if not np.isfinite(value) else f"{value:.{digits}f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _protocol(context: dict[str, Any], final: FinalTest | None) -> list[str]:
    per_role = context["counts"]["total"].to_dict()
    lines = [
        "## Protocol",
        "",
        f"The data were partitioned once, when the search was created, into **dev** ({per_role.get('dev', 0)} "
        f"images) and **test** ({per_role.get('test', 0)} images; {context['test_spec']}), recorded in "
        "`splits.csv` with a content hash of every file. The search trained on dev and chose its configurations "
        "on a validation slice of dev; the cross-validation folds lie inside dev "
        f"({context['folds']} folds, {context['split']}, seed {context['seed']}); every configuration was then "
        "refit on dev (early stopping on the same validation slice) and scored **once** on test. Temperatures "
        "and decision thresholds are chosen on the validation slice, never on test. "
        f"The configuration reported first, **{context['best']}**, was chosen by its {context['selection']} on dev.",
        "",
    ]
    if context.get("multilabel"):
        lines += [
            f"**Task: multi-label**, {len(context['classes'])} labels ({', '.join(context['classes'])}): one sigmoid "
            f"output per label; unknown labels are masked from the loss and every metric; uncertain labels: "
            f"`{context['uncertain']}`. Each label's threshold is chosen on the validation slice (best F1). The "
            "selection uses the macro AUC (mean over labels), which needs no threshold.",
            "",
        ]
    if final is None:
        lines += [
            "> **No untouched test set** (`--test-fraction 0`, the paper's own protocol): every number below "
            "comes from cross-validation on the images the search was tuned on, and is optimistic for the "
            "searched configurations.",
            "",
        ]
    return lines


def _ci_cells(frame: pd.DataFrame, config: str, metrics: list[str]) -> list[str]:
    """``value [low, high]`` of each metric of ``config`` in a pivot of a long metrics table."""
    return [_ci(frame.loc[config, ("value", m)], frame.loc[config, ("ci_low", m)], frame.loc[config, ("ci_high", m)])
            for m in metrics]  # fmt: skip


def _pivot(metrics: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in ("value", "ci_low", "ci_high") if c in metrics]
    frame = metrics.pivot_table(index="config", columns="metric", values=columns, aggfunc="first", dropna=False)
    for column in ("ci_low", "ci_high"):  # every interval undefined: NaN columns
        if column not in columns:
            for metric in metrics["metric"].unique():
                frame[(column, metric)] = np.nan
    return frame


def _resampled(metrics: pd.DataFrame) -> tuple[str, list[str]]:
    designs = metrics.dropna(subset=["unit"]) if "unit" in metrics else metrics.iloc[:0]
    pairs = dict.fromkeys(zip(designs["unit"], designs["resamples"]))
    units = "; ".join(f"{unit}, {int(n)} resamples" for unit, n in pairs)
    return units, sorted({n for n in metrics.get("note", pd.Series(dtype=str)).dropna() if n})


def _final_section_multilabel(final: FinalTest, context: dict[str, Any]) -> list[str]:
    """The multi-label final test: macro scalars, the per-label table, comparisons, calibration."""
    shown = ["auc_ovr_macro", "ap_macro", "f1_macro", "f1_micro"]
    lines = ["## Test set: final estimate (95 % bootstrap CI)", ""]
    metrics = _pivot(final.metrics)
    calibration = final.calibration.set_index("config")
    lines += ["| configuration | " + " | ".join(shown) + " | ECE (label mean) |", "|---" * (len(shown) + 2) + "|"]
    for config in dict.fromkeys(final.metrics["config"]):
        mark = " (selected)" if config == final.selected else ""
        ece = calibration.loc[config, "ece_label_mean"]
        lines.append(f"| {config}{mark} | " + " | ".join(_ci_cells(metrics, config, shown)) + f" | {ece:.3f} |")
    designs = final.metrics.dropna(subset=["unit"]) if "unit" in final.metrics else final.metrics.iloc[:0]
    units = "; ".join(dict.fromkeys(designs["unit"]))
    parts = (part for n in final.metrics.get("note", pd.Series(dtype=str)).dropna() for part in str(n).split("; "))
    design_notes = sorted({part for part in parts if part and "undefined" not in part})
    lines += [
        "",
        f"CIs: percentile bootstrap resampling the unit the test set was drawn by ({units or 'none'}), every "
        "metric of every configuration from the same resamples"
        + (f"; {'; '.join(design_notes)}" if design_notes else "")
        + ". A value undefined on a resample (a label without a known positive in it) is left out of its interval "
        "(`resamples` in `test_metrics.csv`: those used). "
        "Labels are predicted by each configuration's per-label thresholds (chosen on its validation slice), as "
        "`predict` does; macro averages are over the labels with a defined value. Files: `test_metrics.csv`, "
        "`test_per_label.csv`, `test_calibration.csv`.",
        "",
        "### Per label (test)",
        "",
        "Support: known positives on test; F1 at the label's threshold; ECE: 15 equal-width bins of the label's "
        "sigmoid probability against its positive rate (known entries).",
        "",
    ]
    per = final.per_label
    per = per.assign(**{f"{m}_ci": [_ci(v, lo, hi) for v, lo, hi in zip(per[m], per[f"{m}_low"], per[f"{m}_high"])]
                        for m in ("auc", "ap", "f1")})  # fmt: skip
    lines += _table(per, {"config": "configuration", "label": "label", "support": "support", "known": "known",
                          "threshold": "threshold", "auc_ci": "AUC", "ap_ci": "AP", "f1_ci": "F1", "ece": "ECE",
                          "brier": "Brier"})  # fmt: skip
    if len(final.leak_free):
        free = _pivot(final.leak_free)
        lines += [f"### Without the {final.leaked} test image(s) that have a duplicate in dev (leakage audit)", ""]
        lines += ["| configuration | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
        lines += [f"| {c} | " + " | ".join(_ci_cells(free, c, shown)) + " |" for c in free.index]
        lines += ["", "File: `test_leak_free.csv`.", ""]
    if len(final.comparisons):
        lines += [f"### Against `{final.reference}` on the test set (macro AUC, paired bootstrap)", ""]
        columns = {"config": "configuration", "metric": "metric", "difference": "difference", "ci_low": "CI low",
                   "ci_high": "CI high", "p": "p", "test": "test"}  # fmt: skip
        lines += _table(final.comparisons, columns)
    lines += ["Test flagged OOD: " + ", ".join(f"`{r.config}` {r.ood_flagged if pd.notna(r.ood_flagged) else '—'}"
                                               for r in final.calibration.itertuples())
              + " (images whose feature OOD score is above its 95 % quantile on validation).", ""]  # fmt: skip
    return lines


def _final_section(final: FinalTest, context: dict[str, Any]) -> list[str]:
    if final.multilabel:
        return _final_section_multilabel(final, context)
    lines = ["## Test set: final estimate (95 % bootstrap CI)", ""]
    metrics = final.metrics.pivot_table(index="config", columns="metric", values=["value", "ci_low", "ci_high"],
                                        aggfunc="first", dropna=False)  # fmt: skip
    shown = [m for m in ("accuracy", "f1_macro", "auc_ovr_macro") if ("value", m) in metrics]
    calibration = final.calibration.set_index("config")
    lines += ["| configuration | " + " | ".join(shown) + " | ECE | Brier |", "|---" * (len(shown) + 3) + "|"]
    for config in dict.fromkeys(final.metrics["config"]):
        cells = [_ci(metrics.loc[config, ("value", m)], metrics.loc[config, ("ci_low", m)],
                     metrics.loc[config, ("ci_high", m)]) for m in shown]  # fmt: skip
        cal = calibration.loc[config]
        mark = " (selected)" if config == final.selected else ""
        lines.append(f"| {config}{mark} | " + " | ".join(cells) + f" | {cal['ece']:.3f} | {cal['brier']:.3f} |")
    resampled, notes = _resampled(final.metrics)
    lines += [
        "",
        f"CIs: percentile bootstrap resampling the unit the test set was drawn by ({resampled or 'none'})"
        + (f"; {'; '.join(notes)}" if notes else "")
        + ". Every table predicts classes by each configuration's decision rule (decided on its validation slice), "
        "as `predict` does. ECE: 15 equal-width bins of the top-label confidence. Files: `test_metrics.csv`, "
        "`test_calibration.csv`.",
        "",
    ]
    if len(final.leak_free):
        lines += [f"### Without the {final.leaked} test image(s) that have a duplicate in dev (leakage audit)", ""]
        free = final.leak_free.pivot_table(index="config", columns="metric", values=["value", "ci_low", "ci_high"],
                                           aggfunc="first", dropna=False)  # fmt: skip
        kept = [m for m in shown if ("value", m) in free]
        lines += ["| configuration | " + " | ".join(kept) + " |", "|---" * (len(kept) + 1) + "|"]
        for config in free.index:
            cells = [_ci(free.loc[config, ("value", m)], free.loc[config, ("ci_low", m)],
                         free.loc[config, ("ci_high", m)]) for m in kept]  # fmt: skip
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
        lines += ["", "File: `test_leak_free.csv`.", ""]
    if len(final.comparisons):
        lines += [f"### Against `{context['reference']}` on the test set", ""]
        columns = {"config": "configuration", "metric": "metric", "difference": "difference", "ci_low": "CI low",
                   "ci_high": "CI high", "p": "p", "test": "test"}  # fmt: skip
        lines += _table(final.comparisons, columns)
    lines += ["### Calibration (temperature fitted on the dev validation slice)", ""]
    lines += _table(final.calibration, {"config": "configuration", "temperature": "T", "ece": "ECE",
                                        "ece_calibrated": "ECE after", "brier": "Brier",
                                        "brier_calibrated": "Brier after",
                                        "ood_flagged": "test flagged OOD"})  # fmt: skip
    lines += ["Test flagged OOD: test images whose OOD score (the feature score when the model has one, as "
              "`predict` scores them) is above its 95 % quantile on the validation slice "
              "(about 5 % of images like the validation images; more means test differs), as `predict` flags them.",
              ""]  # fmt: skip
    lines += [f"### {final.positive} vs rest: operating points (threshold chosen on validation, scored on test)", ""]
    points = final.operating_points
    if "sensitivity" in points:
        lines += _table(points, {"config": "configuration", "fixed": "fixed on validation", "target": "target",
                                 "threshold": "threshold", "sensitivity": "sensitivity",
                                 "specificity": "specificity", "ppv": "PPV", "npv": "NPV"})  # fmt: skip
    lines += ["### Average precision per class (test)", ""]
    ap = final.average_precision.pivot_table(index="config", columns="class", values="average_precision")
    lines += _table(ap.reset_index(), {"config": "configuration", **{c: c for c in ap.columns}})
    if len(final.subgroups):
        lines += [f"### Subgroups (sources) of `{final.selected}` on test: {final.positive} vs rest", ""]
        sub = final.subgroups
        columns = {sub.columns[0]: "subgroup", "n": "n", "positives": "positives"}
        for metric in ("sensitivity", "specificity"):
            bounds = zip(sub[metric], sub[f"{metric}_low"], sub[f"{metric}_high"])
            sub = sub.assign(**{metric + "_ci": [_ci(v, lo, hi) for v, lo, hi in bounds]})
            columns[metric + "_ci"] = f"{metric} [Wilson 95 %]"
        lines += _table(sub, columns)
    lines += [f"![reliability]({final.figures[0]})", "", f"![precision-recall]({final.figures[1]})", ""]
    return lines


def _model_card(context: dict[str, Any], final: FinalTest | None) -> list[str]:
    lines = [
        "## Model card",
        "",
        f"- **Model**: `{context['best']}` (selected by {context['selection']} on dev); configurations compared: "
        f"{', '.join(context['configs'])}.",
        f"- **Intended use**: research on chest X-ray classification ({', '.join(context['classes'])})"
        "; not a diagnostic device, not validated for clinical decisions.",
        f"- **Data**: `{context['data']}`; dev/test counts per class in `splits.csv` and below; "
        f"test: {context['test_spec']}.",
    ]
    if final is not None and final.multilabel:
        row = final.metrics[(final.metrics["config"] == final.selected) & (final.metrics["metric"] == "auc_ovr_macro")]
        r = row.iloc[0]
        cal = final.calibration.set_index("config").loc[final.selected]
        lines.append(f"- **Test macro AUC**: {_ci(r['value'], r.get('ci_low', np.nan), r.get('ci_high', np.nan))}.")
        lines.append(f"- **Calibration**: ECE {cal['ece_label_mean']:.3f} (mean over labels of each label's sigmoid).")
    elif final is not None:
        row = final.metrics[(final.metrics["config"] == final.selected) & (final.metrics["metric"] == "f1_macro")]
        cal = final.calibration.set_index("config").loc[final.selected]
        if len(row):
            r = row.iloc[0]
            lines.append(f"- **Test macro-F1**: {_ci(r['value'], r.get('ci_low', np.nan), r.get('ci_high', np.nan))}.")
        lines.append(f"- **Calibration**: ECE {cal['ece']:.3f} → {cal['ece_calibrated']:.3f} after temperature "
                     f"{cal['temperature']:.2f} (fitted on validation).")  # fmt: skip
    lines += [
        f"- **Leakage**: {context['leakage']}",
        "- **Known limitations**: sources are confounded with classes in public COVID collections (a model can "
        "learn the source); the CV estimate of searched configurations is optimistic (they were selected on the "
        "same images); "
        + (
            "no untouched test set was kept."
            if final is None
            else "one test set, one split seed: the CIs do not cover a different population."
        ),
        "",
    ]
    table = context["counts"].reset_index()
    return lines + _table(table, {c: c for c in table.columns})


def _table1(table: pd.DataFrame) -> list[str]:
    """The paper's Table 1 layout: the re-run rows (CV on this experiment's folds) beside the published numbers."""
    rows = [name for name in TABLE1 if name in set(table["config"])]
    if not rows:
        return []
    metrics = {"f1_macro": "F1", "accuracy": "accuracy", "precision_macro": "precision", "recall_macro": "recall",
               "auc_ovr_macro": "AUC"}  # fmt: skip
    lines = [
        "### The paper's Table 1 under one protocol",
        "",
        "> Re-run here: every row on the same folds, recipe (Adam 1e-4, batch 8, early stopping on validation "
        "loss) and budget (macro averages, CV mean ± std). *Published*: the paper's own numbers, on its own "
        "splits — for orientation, not a paired comparison.",
        "",
        "| system | " + " | ".join(metrics.values()) + " | published " + " / ".join(metrics.values()) + " |",
        "|---" * (len(metrics) + 2) + "|",
    ]
    for name in rows:
        cells = []
        for metric in metrics:
            row = table[(table["config"] == name) & (table["metric"] == metric)]
            cells.append(_fmt(row["mean"].item(), row["std"].item()) if len(row) else "—")
        published = PUBLISHED_TABLE1.get(name)
        shown = " / ".join(f"{published[m]:.2f}" for m in metrics) if published else "— (not a row of Table 1)"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {shown} |")
    return [*lines, ""]


def write_report(
    out: Path,
    runs: list[FoldRun],
    folds: pd.DataFrame,
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    figures: dict[str, list[str]],
    context: dict[str, Any],
    final: FinalTest | None = None,
) -> Path:
    """``report.md``: protocol, the final test (CIs, calibration, comparisons), leakage, CV, model card."""
    lines = [f"# Evaluation of {context['experiment']}", ""]
    lines += _protocol(context, final)
    if final is not None:
        lines += _final_section(final, context)
    lines += ["## Leakage audit", "", context["leakage"], ""]
    searched = ", ".join(f"`{n}`" for n in context["searched"]) or "none"
    lines += [
        f"## Cross-validation inside dev (mean ± std over {context['folds']} folds)",
        "",
        f"> Optimistic for the searched configurations ({searched}): they were selected on these images. "
        "Use the test-set numbers above.",
        "",
    ]
    shown = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "auc_ovr_macro"]
    if context.get("multilabel"):
        shown = list(MULTILABEL_METRICS)
    table = summary[summary["set"] == "test"]
    lines += ["| configuration | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for config in dict.fromkeys(table["config"]):
        cells = []
        for metric in shown:
            row = table[(table["config"] == config) & (table["metric"] == metric)]
            cells.append(_fmt(row["mean"].item(), row["std"].item()) if len(row) else "—")
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += _table1(table)
    pattern, title = r"(sensitivity|specificity)_", "Per-class sensitivity and specificity"
    if context.get("multilabel"):
        pattern, title = r"auc/", "Per-label AUC"
    per_class = summary[(summary["set"] == "test") & summary["metric"].str.match(pattern)]
    if len(per_class):
        lines += [f"### {title} (CV, mean over folds)", ""]
        metrics = list(dict.fromkeys(per_class["metric"]))
        lines += ["| configuration | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for config in dict.fromkeys(per_class["config"]):
            cells = [f"{per_class[(per_class['config'] == config) & (per_class['metric'] == m)]['mean'].item():.3f}"
                     for m in metrics]  # fmt: skip
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
        lines.append("")
    if len(comparisons):
        lines += [
            f"### Against `{context['reference']}` in CV (corrected resampled t-test, Nadeau & Bengio)",
            "",
            "> Selection-biased for the searched configurations: the folds are the images they were chosen on.",
            "",
            "| configuration | metric | mean difference | 95 % CI | t | p |",
            "|---|---|---|---|---|---|",
        ]
        for row in comparisons.itertuples():
            flag = " (selection-biased)" if row.config in context["searched"] else ""
            lines.append(
                f"| {row.config}{flag} | {row.metric} | {row.mean_difference:+.4f} | "
                f"[{row.ci95_low:+.4f}, {row.ci95_high:+.4f}] | {row.t:.2f} | {row.p:.3f} |"
            )
        lines.append("")
    errors = [r for r in runs if r.error]
    if errors:
        lines += ["## Failed runs", ""]
        lines += [f"- {r.config}, {'refit' if r.refit else f'fold {r.fold}'}: {r.error}" for r in errors] + [""]
    if context.get("saliency"):
        lines += context["saliency"]
    lines += _model_card(context, final)
    lines += ["## Figures", ""]
    for title, files in figures.items():
        if files:
            lines += [f"### {title}", ""] + [f"![{f}]({f})" for f in files] + [""]
    if context.get("search_note"):
        lines += [f"Search figures: {context['search_note']}.", ""]
    lines += [
        "Files: `test_*.csv` (final test), `folds.csv` (configuration × fold × metric), `summary.csv`, "
        "`comparisons.csv`, `rows.csv` (the files of every fold and of the refit), `../splits.csv`, "
        "`../leakage.csv`.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
