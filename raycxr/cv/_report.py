"""Tables, figures and ``report.md`` of a cross-validation."""

from __future__ import annotations

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

from raycxr.cv._run import FoldRun
from raycxr.cv._stats import corrected_resampled_ttest
from raycxr.train import SCALAR_METRICS

COMPARED = ("f1_macro", "accuracy", "auc_ovr_macro")


def folds_table(runs: list[FoldRun], classes: tuple[str, ...]) -> pd.DataFrame:
    """One row per configuration × fold × set (test, holdout) × metric."""
    rows = []
    for run in runs:
        if run.metrics is None:
            continue
        for part in ("test", "holdout"):
            metrics = run.metrics.get(part)
            if not metrics:
                continue
            values = {m: metrics[m] for m in SCALAR_METRICS if m in metrics}
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


def plot_roc(runs: list[FoldRun], config: str, labels: np.ndarray, classes: tuple[str, ...], path: Path) -> str:
    """One-vs-rest ROC curve of every class, test predictions of all folds pooled."""
    mine = [r for r in runs if r.config == config and r.evaluation is not None]
    proba = np.concatenate([r.evaluation["test_proba"] for r in mine])
    truth = labels[np.concatenate([r.evaluation["test_rows"] for r in mine])]
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    for k, name in enumerate(classes):
        if 0 < (truth == k).sum() < len(truth):
            fpr, tpr, _ = roc_curve(truth == k, proba[:, k])
            ax.plot(fpr, tpr, label=f"{name} (AUC {np.trapezoid(tpr, fpr):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate (1 − specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(f"{config}: ROC per class (test, all folds)")
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


def write_report(
    out: Path,
    runs: list[FoldRun],
    folds: pd.DataFrame,
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    figures: dict[str, list[str]],
    context: dict[str, Any],
) -> Path:
    """``report.md``: settings, summary tables, comparisons, errors and linked figures."""
    lines = [f"# Cross-validation of {context['experiment']}", ""]
    lines += [
        f"{context['folds']} folds ({context['split']}); configurations: {', '.join(context['configs'])}. "
        f"Reference for comparisons: `{context['reference']}`. Best by mean test macro-F1: **{context['best']}**.",
        "",
        "> The top-k configurations were chosen by a search on these same images, so their cross-validated "
        "estimate is optimistic. " + (
            "The holdout columns are images the search and the CV never trained on: the honest number."
            if context["holdout"] else "No holdout set was kept (run the search with `--set holdout_fraction=0.2` "
            "for an honest final test)."
        ),
        "",
        "## Test metrics (mean ± std over folds)",
        "",
    ]  # fmt: skip
    shown = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "auc_ovr_macro"]
    for part in ("test", "holdout"):
        table = summary[summary["set"] == part]
        if not len(table):
            continue
        if part == "holdout":
            lines += ["## Holdout metrics (mean ± std over the fold models)", ""]
        lines += ["| configuration | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
        for config in dict.fromkeys(table["config"]):
            cells = []
            for metric in shown:
                row = table[(table["config"] == config) & (table["metric"] == metric)]
                cells.append(_fmt(row["mean"].item(), row["std"].item()) if len(row) else "—")
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
        lines.append("")
    per_class = summary[(summary["set"] == "test") & summary["metric"].str.match(r"(sensitivity|specificity)_")]
    if len(per_class):
        lines += ["## Per-class sensitivity and specificity (test, mean over folds)", ""]
        metrics = list(dict.fromkeys(per_class["metric"]))
        lines += ["| configuration | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for config in dict.fromkeys(per_class["config"]):
            cells = [f"{per_class[(per_class['config'] == config) & (per_class['metric'] == m)]['mean'].item():.3f}"
                     for m in metrics]  # fmt: skip
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
        lines.append("")
    if len(comparisons):
        lines += [
            f"## Against `{context['reference']}` (corrected resampled t-test, Nadeau & Bengio)",
            "",
            "| configuration | metric | mean difference | 95 % CI | t | p |",
            "|---|---|---|---|---|---|",
        ]
        for row in comparisons.itertuples():
            lines.append(
                f"| {row.config} | {row.metric} | {row.mean_difference:+.4f} | "
                f"[{row.ci95_low:+.4f}, {row.ci95_high:+.4f}] | {row.t:.2f} | {row.p:.3f} |"
            )
        lines.append("")
    errors = [r for r in runs if r.error]
    if errors:
        lines += ["## Failed runs", ""] + [f"- {r.config}, fold {r.fold}: {r.error}" for r in errors] + [""]
    lines += ["## Figures", ""]
    for title, files in figures.items():
        if files:
            lines += [f"### {title}", ""] + [f"![{f}]({f})" for f in files] + [""]
    if context.get("search_note"):
        lines += [f"Search figures: {context['search_note']}.", ""]
    lines += ["Files: `folds.csv` (configuration × fold × set × metric), `summary.csv`, `comparisons.csv`.", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
