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
from raycxr.predict import load_model, predict_files
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


def _dev_stems(experiment: Path) -> list[str]:
    splits = pd.read_csv(experiment / "splits.csv")
    return sorted(Path(f).stem for f in splits.loc[splits["role"] == "dev", "file"])


def _test_stems(experiment: Path) -> set[str]:
    splits = pd.read_csv(experiment / "splits.csv")
    return {Path(f).stem for f in splits.loc[splits["role"] == "test", "file"]}


def _fold_files(experiment: Path, out: Path, k: int = 3) -> list[set[str]]:
    """k fold CSVs ('FILE NAME', the paper's format) partitioning the experiment's dev images at random."""
    stems = _dev_stems(experiment)
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
    fold_sets = _fold_files(experiment, tmp_path / "folds")
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

    result = run_cv(
        CVSettings(experiment=experiment, top_k=1, baselines="paper", folds_csv=tmp_path / "folds", bootstrap=200)
    )
    after = _finished_runs(cv_dir)
    assert len(after) == 6
    assert len(result.runs) == 8  # 2 configurations × (3 folds + the refit on dev, scored on test)
    for name, lines in before.items():  # nothing re-ran
        # A run that ended right at Ctrl-C, before Tune recorded it, only says its result again.
        assert after[name][: len(lines)] == lines
        again = [json.loads(line) for line in after[name][len(lines) :]]
        assert all(r["test_f1_macro"] == json.loads(lines[-1])["test_f1_macro"] for r in again), name

    # Each fold tests exactly the images its CSV names; folds are disjoint and cover dev; the refit tests test.
    stems = np.array(index_dataset(tiny_dataset).stems)
    for run in result.runs:
        assert not run.error
        tested = set(stems[run.evaluation["test_rows"]])
        assert tested == (_test_stems(experiment) if run.refit else fold_sets[run.fold])
    dev = _dev_stems(experiment)
    assert set().union(*fold_sets) == set(dev) and sum(map(len, fold_sets)) == len(dev)

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
    sizes = [r.metrics["sizes"] for r in result.runs if not r.refit]
    ratio = np.mean([s["test"] for s in sizes]) / np.mean([s["train"] for s in sizes])
    d = (f1[top] - f1["paper"]).to_numpy()
    t = d.mean() / math.sqrt((1 / 3 + ratio) * d.var(ddof=1)) if d.var(ddof=1) > 0 else None
    comparison = pd.read_csv(cv_dir / "comparisons.csv").set_index("metric").loc["f1_macro"]
    assert comparison["mean_difference"] == pytest.approx(d.mean())
    if t is not None:
        assert comparison["t"] == pytest.approx(t) and comparison["p"] == pytest.approx(2 * stats.t.sf(abs(t), 2))
    report = (cv_dir / "report.md").read_text()
    assert f"**{result.best}**" in report and "corrected resampled t-test" in report
    # The final test comes first, with CIs and calibration; CV below it, marked optimistic.
    assert (
        report.index("## Test set: final estimate")
        < report.index("## Leakage audit")
        < report.index("## Cross-validation inside dev")
    )
    metrics = pd.read_csv(cv_dir / "test_metrics.csv")
    assert set(metrics["config"]) == {top, "paper"}
    f1_row = metrics.query("config == 'paper' and metric == 'f1_macro'").iloc[0]
    assert f1_row["ci_low"] <= f1_row["ci_high"]
    assert f"{f1_row['value']:.3f} [{f1_row['ci_low']:.3f}, {f1_row['ci_high']:.3f}]" in report
    # Each interval says what it resampled: the tiny set's test images were drawn image by image.
    assert set(metrics["unit"].dropna()) == {"image (stratified by class)"} and (metrics["resamples"] > 0).all()
    assert "resampling the unit the test set was drawn by (image (stratified by class), 200 resamples)" in report
    # Every evaluated configuration's refit is kept with its record; selection.json names the CV's choice.
    selection = json.loads((cv_dir / "selection.json").read_text())
    assert selection["selected"] == result.best and set(selection["evaluated"]) == {top, "paper"}
    for config in (top, "paper"):
        refit = json.loads((cv_dir / "refits" / config / "refit.json").read_text())
        assert refit["decision"]["rule"] == "argmax" and refit["test"]["f1_macro"]["value"] == pytest.approx(
            metrics.query("config == @config and metric == 'f1_macro'")["value"].iloc[0]
        )
        assert (cv_dir / "refits" / config / "model.pt").stat().st_size > 1000
    calibration = pd.read_csv(cv_dir / "test_calibration.csv").set_index("config")
    assert (calibration["temperature"] > 0).all() and "ECE after" in report and "## Model card" in report
    # The OOD count is predict's: the refit model's score (the feature score) on the test images, judged alike.
    test_files = sorted(f for f in tiny_dataset.rglob("*.png") if f.stem in _test_stems(experiment))
    predicted = predict_files(load_model(cv_dir, config="paper"), test_files, progress=False)
    assert predicted.ood_rule.startswith("mahalanobis") and len(predicted.files) == len(test_files)
    assert calibration.loc["paper", "ood_flagged"] == predicted.ood.sum()
    paper_f1 = summary.query("config == 'paper' and set == 'test' and metric == 'f1_macro'").iloc[0]
    assert f"{paper_f1['mean']:.4f} ± {paper_f1['std']:.4f}" in report
    figures = [line.split("(")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    for name in ("confusion_paper.png", "roc_paper.png", "learning_paper.png", "tsne.png", "search_history.png",
                 "test_reliability.png", "test_precision_recall.png"):  # fmt: skip
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


def test_fold_files_naming_a_test_image_are_refused(experiment: Path, tmp_path: Path) -> None:
    _fold_files(experiment, tmp_path / "folds")
    planted = sorted(_test_stems(experiment))[0]
    first = pd.read_csv(tmp_path / "folds" / "fold1.csv")
    pd.concat([first, pd.DataFrame({"FILE NAME": [planted], "label": [0]})]).to_csv(
        tmp_path / "folds" / "fold1.csv", index=False
    )
    with pytest.raises(ValueError, match=f"fold file 1 names 1 image.*untouched test set.*{planted}"):
        run_cv(CVSettings(experiment=experiment, folds_csv=tmp_path / "folds", top_k=1))


def test_overlapping_fold_files_and_empty_experiments(experiment: Path, tmp_path: Path) -> None:
    _fold_files(experiment, tmp_path / "folds")
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


def test_no_test_image_ever_trains_validates_or_selects(small_dataset: Path, tmp_path: Path) -> None:
    """A group-split search with a test fraction, then CV: read from the outputs alone.

    ``splits.csv`` says which files are test; ``search_rows.csv`` which files every trial
    trained and was selected on; ``cv/rows.csv`` which files each fold's and the refit's runs
    recorded as their training and validation rows. No test file may appear in any of them,
    and no group (patient) may straddle dev and test.
    """
    table = pd.DataFrame({"path": [str(p) for p in index_dataset(small_dataset).paths]})
    table["label"] = [Path(p).parent.parent.name for p in table["path"]]
    table["group"] = [f"{label}-p{i // 3}" for i, label in enumerate(table["label"])]  # 3 images per patient
    table.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "space.yaml").write_text(SPACE)
    run_search(TuneSettings(
        space=str(tmp_path / "space.yaml"), data=tmp_path / "data.csv", storage=str(tmp_path), name="grouped",
        num_samples=2, test_fraction=0.2, set=[*FAST, "epochs=1", "split=group"],
    ))  # fmt: skip
    experiment = tmp_path / "grouped"
    run_cv(CVSettings(experiment=experiment, top_k=1, baselines="none", folds=2, bootstrap=100))

    splits = pd.read_csv(experiment / "splits.csv")
    test = set(splits.loc[splits["role"] == "test", "file"])
    assert abs(len(test) / len(splits) - 0.2) < 0.05
    groups = splits.groupby("group")["role"].nunique()
    assert (groups == 1).all(), "a group straddles dev and test"
    searched = pd.read_csv(experiment / "search_rows.csv")
    assert set(searched["part"]) == {"train", "val"} and not test & set(searched["file"])
    rows = pd.read_csv(experiment / "cv" / "rows.csv")
    assert set(rows["fold"].astype(str)) == {"0", "1", "refit"}
    learned = rows[rows["part"].isin(["train", "val"])]
    assert not test & set(learned["file"]), "a test image was trained or validated on"
    assert set(rows.loc[(rows["fold"].astype(str) == "refit") & (rows["part"] == "test"), "file"]) == test
    assert not test & set(rows.loc[rows["fold"].astype(str) != "refit", "file"])  # CV lives inside dev
    # A group split's test set was drawn by group: its intervals resample groups (with at least 20 of them).
    n_groups = splits.loc[splits["role"] == "test", "group"].nunique()
    units = set(pd.read_csv(experiment / "cv" / "test_metrics.csv")["unit"].dropna())
    assert units == ({f"group ({n_groups} groups)"} if n_groups >= 20 else {"image (stratified by class)"})
