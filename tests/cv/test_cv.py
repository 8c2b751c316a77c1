"""Cross-validation end to end on a local Ray: interrupted, resumed, reported."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from raycxr.cv import CVSettings, run_cv
from raycxr.data import index_dataset
from raycxr.tune import TuneSettings, run_search
from tests.tune.conftest import FAST

pytestmark = pytest.mark.slow

SPACE = """
params:
  freeze_ratio: {type: float, low: 0.5, high: 0.9}
  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""


@pytest.fixture(scope="module")
def experiment(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-trial search on the tiny dataset."""
    root = tmp_path_factory.mktemp("search")
    (root / "space.yaml").write_text(SPACE)
    settings = TuneSettings(
        space=str(root / "space.yaml"), data=tiny_dataset, storage=str(root), name="exp", num_samples=2,
        set=[*FAST, "epochs=1"],
    )  # fmt: skip
    run_search(settings)
    return root / "exp"


def _fold_files(dataset: Path, out: Path, k: int = 3) -> list[set[str]]:
    """k fold CSVs ('FILE NAME', the paper's format) partitioning the dataset at random."""
    stems = sorted(index_dataset(dataset).stems)
    order = np.random.default_rng(5).permutation(len(stems))
    out.mkdir()
    folds = []
    for i, part in enumerate(np.array_split(order, k), start=1):
        names = sorted(stems[j] for j in part)
        pd.DataFrame({"FILE NAME": names, "label": 0}).to_csv(out / f"fold{i}.csv", index=False)
        folds.append(set(names))
    return folds


def _finished_runs(cv_dir: Path) -> dict[str, list[str]]:
    done = {}
    for result in cv_dir.glob("*_fold*_*/result.json"):
        lines = result.read_text().splitlines()
        if lines and "test_f1_macro" in json.loads(lines[-1]):
            done[result.parent.name] = lines
    return done


def test_interrupted_cv_resumes_and_reports(experiment: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    fold_sets = _fold_files(tiny_dataset, tmp_path / "folds")
    args = ["--top-k", "1", "--baselines", "paper", "--folds-csv", str(tmp_path / "folds"), "--max-concurrent", "1"]
    log = (tmp_path / "cv.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "raycxr.cv", str(experiment), *args], stdout=log, stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )  # fmt: skip
    cv_dir = experiment / "cv"
    deadline = time.monotonic() + 400
    while len(_finished_runs(cv_dir)) < 2:
        assert process.poll() is None, (tmp_path / "cv.log").read_text()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(1)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    before = _finished_runs(cv_dir)
    assert 2 <= len(before) < 6

    result = run_cv(CVSettings(experiment=experiment, top_k=1, baselines="paper", folds_csv=tmp_path / "folds"))
    after = _finished_runs(cv_dir)
    assert len(after) == 6
    for name, lines in before.items():  # nothing re-ran
        # A run that ended right at Ctrl-C, before Tune recorded it, only says its result again.
        assert after[name][: len(lines)] == lines
        again = [json.loads(line) for line in after[name][len(lines) :]]
        assert all(r["test_f1_macro"] == json.loads(lines[-1])["test_f1_macro"] for r in again), name

    # Each fold tests exactly the images its CSV names; folds are disjoint and cover the data.
    stems = np.array(index_dataset(tiny_dataset).stems)
    for run in result.runs:
        assert not run.error
        assert set(stems[run.evaluation["test_rows"]]) == fold_sets[run.fold]
    assert set().union(*fold_sets) == set(stems) and sum(map(len, fold_sets)) == len(stems)

    # The CSVs, the report and the t-test agree with each other.
    folds = pd.read_csv(cv_dir / "folds.csv")
    summary = pd.read_csv(cv_dir / "summary.csv")
    assert set(folds["config"]) == {result.runs[0].config, "paper"} and set(folds["fold"]) == {0, 1, 2}
    test = folds[folds["set"] == "test"]
    means = test.groupby(["config", "metric"])["value"].mean()
    counts = test.groupby(["config", "metric"])["value"].count()  # AUC is undefined on a fold missing a class
    for row in summary[summary["set"] == "test"].itertuples():
        assert row.mean == pytest.approx(means[(row.config, row.metric)])
        assert row.folds == counts[(row.config, row.metric)] == (3 if row.metric == "f1_macro" else row.folds)
    f1 = test[test["metric"] == "f1_macro"].pivot(index="fold", columns="config", values="value")
    top = result.runs[0].config
    sizes = [r.metrics["sizes"] for r in result.runs]
    ratio = np.mean([s["test"] for s in sizes]) / np.mean([s["train"] for s in sizes])
    d = (f1[top] - f1["paper"]).to_numpy()
    t = d.mean() / math.sqrt((1 / 3 + ratio) * d.var(ddof=1)) if d.var(ddof=1) > 0 else None
    comparison = pd.read_csv(cv_dir / "comparisons.csv").set_index("metric").loc["f1_macro"]
    assert comparison["mean_difference"] == pytest.approx(d.mean())
    if t is not None:
        assert comparison["t"] == pytest.approx(t) and comparison["p"] == pytest.approx(2 * stats.t.sf(abs(t), 2))
    report = (cv_dir / "report.md").read_text()
    assert f"**{result.best}**" in report and "corrected resampled t-test" in report
    paper_f1 = summary.query("config == 'paper' and set == 'test' and metric == 'f1_macro'").iloc[0]
    assert f"{paper_f1['mean']:.4f} ± {paper_f1['std']:.4f}" in report
    figures = [line.split("(")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    for name in ("confusion_paper.png", "roc_paper.png", "learning_paper.png", "tsne.png", "search_history.png"):
        assert name in figures
    for name in figures:
        assert (cv_dir / name).stat().st_size > 5000, name  # a real PNG, not an empty file
    assert list(cv_dir.glob("paper_fold0_*/events.out.tfevents.*"))  # TensorBoard scalars of every run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"top_k": 5}, "--top-k 5: the search has only 2 finished trial(s)"),
        ({"folds": 1, "top_k": 1}, "--folds must be at least 2, got 1"),
        ({"top_k": 0, "baselines": "none"}, "nothing to cross-validate"),
    ],
)
def test_bad_cv_input(experiment: Path, args: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        run_cv(CVSettings(experiment=experiment, **args))
    assert message in str(error.value)


def test_overlapping_fold_files_and_empty_experiments(experiment: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    _fold_files(tiny_dataset, tmp_path / "folds")
    first = pd.read_csv(tmp_path / "folds" / "fold1.csv")
    pd.concat([pd.read_csv(tmp_path / "folds" / "fold2.csv"), first.head(1)]).to_csv(
        tmp_path / "folds" / "fold2.csv", index=False
    )
    with pytest.raises(ValueError, match="fold"):
        run_cv(CVSettings(experiment=experiment, folds_csv=tmp_path / "folds", top_k=1))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "raycxr.json").write_text((experiment / "raycxr.json").read_text())
    with pytest.raises(ValueError, match="the search has no finished trials"):
        run_cv(CVSettings(experiment=empty, top_k=1))
    with pytest.raises(ValueError, match="not a raycxr search experiment"):
        run_cv(CVSettings(experiment=tmp_path, top_k=1))


def test_holdout_images_never_train_and_are_reported(experiment: Path, tmp_path: Path) -> None:
    """A search run with a holdout fraction: the CV keeps those images out of every fold."""
    held = tmp_path / "held"
    held.mkdir()
    record = json.loads((experiment / "raycxr.json").read_text())
    record["settings"]["set"] = [*record["settings"]["set"], "holdout_fraction=0.25"]
    (held / "raycxr.json").write_text(json.dumps(record))
    (held / "trials.csv").write_text((experiment / "trials.csv").read_text())
    result = run_cv(CVSettings(experiment=held, top_k=0, baselines="paper", folds=2))
    assert len(result.runs) == 2 and not any(r.error for r in result.runs)
    holdout = set(result.runs[0].evaluation["holdout_rows"].tolist())
    assert abs(len(holdout) - 30) <= 2  # a quarter of the 120 images
    for run in result.runs:
        assert set(run.evaluation["holdout_rows"].tolist()) == holdout
        assert not holdout & set(run.evaluation["test_rows"].tolist())
    folds = pd.read_csv(held / "cv" / "folds.csv")
    assert set(folds["set"]) == {"test", "holdout"}
    report = (held / "cv" / "report.md").read_text()
    assert "## Holdout metrics" in report and "the honest number" in report
