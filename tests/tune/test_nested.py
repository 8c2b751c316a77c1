"""Nested cross-validation: a whole search inside each outer fold, each winner scored on its own fold."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest

from raycxr.tune import TuneSettings, run_search
from tests.tune.conftest import FAST

SPACE = """
params:
  freeze_ratio: {type: float, low: 0.5, high: 0.9}
  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""


@pytest.mark.slow
def test_nested_two_outer_folds_share_nothing(tiny_dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    settings = TuneSettings(
        space=str(tmp_path / "space.yaml"), data=tiny_dataset, storage=str(tmp_path), name="nest", nested=2,
        num_samples=2, set=[*FAST, "epochs=1"],
    )  # fmt: skip
    result = run_search(settings)
    experiment = tmp_path / "nest"
    table = pd.read_csv(experiment / "nested.csv")
    assert result.nested is not None and len(table) == 2 and list(table["outer_fold"]) == [0, 1]
    assert table["outer_test_f1_macro"].between(0, 1).all()

    splits = pd.read_csv(experiment / "splits.csv")
    dev = set(splits.loc[splits["role"] == "dev", "file"])
    outer_tests, trial_ids = [], []
    for k, row in table.iterrows():
        outer = experiment / "nested" / f"outer{k}"
        rows = pd.read_csv(outer / "rows.csv")
        inner = set(rows.loc[rows["part"].isin(["train", "val"]), "file"])
        tested = set(rows.loc[rows["part"] == "outer_test", "file"])
        assert tested and not inner & tested  # the inner search never sees its outer test fold
        assert inner | tested <= dev  # the experiment's test set is untouched
        outer_tests.append(tested)
        # Its own search: its own Optuna study and Tune trials, its winner one of them.
        trials = pd.read_csv(outer / "trials.csv")
        assert len(trials) == 2 and row["winner"] in set(trials["trial_id"])
        study = optuna.load_study(study_name=f"outer{k}", storage=f"sqlite:///{outer / 'optuna.db'}")
        assert len(study.trials) == 2
        assert row["inner_best_val_f1_macro"] == pytest.approx(trials["best_val_f1_macro"].max())
        trial_ids.append(set(trials["trial_id"]))
    assert not outer_tests[0] & outer_tests[1] and outer_tests[0] | outer_tests[1] == dev
    assert not trial_ids[0] & trial_ids[1]

    # Run again: every outer fold was scored, nothing trains.
    again = run_search(settings.model_copy(update={"resume": True}))
    pd.testing.assert_frame_equal(again.nested.reset_index(drop=True), table)
