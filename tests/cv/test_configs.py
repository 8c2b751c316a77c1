"""Baseline sets: the paper's four, its Table 1 rows, the course report's systems — all valid training configs."""

from __future__ import annotations

import pytest

from raycxr.cv import BASELINES, MULTILABEL_BASELINES, PUBLISHED_TABLE1, SELECTION_METRIC, TABLE1, baseline_names
from raycxr.cv._configs import default_baselines, selection_words
from raycxr.train import TrainConfig


def test_sets_expand_to_their_rows() -> None:
    assert baseline_names("all") == ["paper", "paper-ce", "finetune-100", "stochastic-50"]
    assert baseline_names("table1") == list(TABLE1) and len(TABLE1) == 8
    assert baseline_names("course", num_classes=2) == ["course-vgg16-binary-focal"]
    assert baseline_names("course", num_classes=4) == ["course-vgg16", "course-mobilenet_v1"]
    assert baseline_names("paper,table1,paper") == ["paper", *TABLE1]
    assert baseline_names("none") == []
    with pytest.raises(ValueError, match="unknown baseline 'table2'"):
        baseline_names("table2")


def test_every_baseline_is_a_valid_configuration_with_the_paper_s_recipe() -> None:
    for name, values in BASELINES.items():
        if name in MULTILABEL_BASELINES:  # the search's fixed settings, not the paper's recipe
            continue
        cfg = TrainConfig(**values).check()
        assert (cfg.lr, cfg.batch_size) == (1e-4, 8), name
    assert set(PUBLISHED_TABLE1) < set(TABLE1)
    scratch = {n for n, v in TABLE1.items() if v.get("weights") == "none"}
    assert scratch == {"covidnet-scratch", "covidlite-scratch", "resnet18-cwbcce-scratch"}
    assert TrainConfig(**TABLE1["inception_v3-ft100"]).image_size == 299


def test_baselines_must_fit_the_task() -> None:
    assert baseline_names("all", 3, multilabel=False) == baseline_names("all")
    assert baseline_names(default_baselines(True), 4, multilabel=True) == []
    assert default_baselines(False) == "all"
    assert baseline_names("bce", 4, multilabel=True) == ["bce"]
    with pytest.raises(ValueError, match=r"^--baselines: 'paper-ce' trains with loss 'ce', which is single-label; "
                       r"this experiment is multi-label: use --baselines none or bce\.$"):  # fmt: skip
        baseline_names("bce,paper-ce", 4, multilabel=True)
    with pytest.raises(ValueError, match="'bce' trains with loss 'bce', which is multi-label; this experiment is "
                       "single-label"):  # fmt: skip
        baseline_names("bce", 3, multilabel=False)


def test_the_selection_metric_depends_on_the_task() -> None:
    assert SELECTION_METRIC == {False: "f1_macro", True: "auc_ovr_macro"}
    assert selection_words(False) == "mean CV macro-F1" and selection_words(True) == "mean CV macro AUC"
