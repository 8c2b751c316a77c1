from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raycxr.data import (
    DatasetIndex,
    TestSpec,
    draw_test,
    fold_files_in,
    index_folder,
    predefined_splits,
    read_fold_files,
    stratified_folds,
)

#: The paper's ten fold files (a copy of ../shared/paper_folds, so CI has them too).
PAPER_FOLDS = Path(__file__).resolve().parent / "paper_folds"
LABELS = np.repeat([0, 1, 2, 3], [60, 100, 170, 22])


def _check_partition(split, n_rows: int | None = None) -> None:
    parts = [set(split.train), set(split.val), set(split.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    if n_rows is not None:
        assert len(parts[0] | parts[1] | parts[2]) == n_rows


def test_paper_protocol_disjoint_stratified_and_covering() -> None:
    splits = stratified_folds(LABELS, n_folds=10, val_fraction=0.1, seed=0)
    assert len(splits) == 10
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests.tolist()) == list(range(len(LABELS)))  # every row tests exactly once
    overall = np.bincount(LABELS) / len(LABELS)
    for split in splits:
        _check_partition(split, len(LABELS))
        for rows in (split.test, split.val, split.train):
            share = np.bincount(LABELS[rows], minlength=4) / len(rows)
            assert np.abs(share - overall).max() < 0.06
        assert abs(len(split.val) / (len(split.val) + len(split.train)) - 0.1) < 0.01


def test_same_seed_same_splits() -> None:
    a, b = stratified_folds(LABELS, 5, seed=1), stratified_folds(LABELS, 5, seed=1)
    c = stratified_folds(LABELS, 5, seed=2)
    assert all(np.array_equal(x.val, y.val) and np.array_equal(x.test, y.test) for x, y in zip(a, b))
    assert not all(np.array_equal(x.test, y.test) for x, y in zip(a, c))


def test_group_aware_splits_never_split_a_group() -> None:
    groups = np.arange(len(LABELS)) // 4  # blocks of 4 images share a source
    with pytest.warns(UserWarning, match=r"fold 1 validation: label 3;"):  # class 3 has 6 groups for 5·10 parts
        splits = stratified_folds(LABELS, 5, seed=0, groups=groups)
    for split in splits:
        g = [set(groups[r]) for r in (split.train, split.val, split.test)]
        assert not (g[0] & g[1]) and not (g[0] & g[2]) and not (g[1] & g[2])


def _index(root: Path, labels: np.ndarray, groups: np.ndarray | None = None) -> DatasetIndex:
    """An index of ``labels`` (no files on disk: drawing a test set reads none)."""
    paths = tuple(root / f"c{label}" / f"img-{i:04d}.png" for i, label in enumerate(labels))
    return DatasetIndex(paths=paths, labels=labels, classes=tuple(CLASSES), groups=groups)


def test_holdout_is_excluded_from_folds(tmp_path: Path) -> None:
    held = draw_test(_index(tmp_path, LABELS), tmp_path, TestSpec(fraction=0.2, seed=0))
    dev, hold = np.flatnonzero(~held), np.flatnonzero(held)
    # round(0.2 × count) of each class: 12, 20, 34, 4 of 60, 100, 170, 22.
    assert np.bincount(LABELS[hold], minlength=4).tolist() == [12, 20, 34, 4]
    for split in stratified_folds(LABELS, 4, seed=0, rows=dev):
        assert not set(np.concatenate([split.train, split.val, split.test])) & set(hold)
    assert not draw_test(_index(tmp_path, LABELS), tmp_path, TestSpec(fraction=0)).any()


def test_the_holdout_does_not_depend_on_the_index_order(tmp_path: Path) -> None:
    index = _index(tmp_path, LABELS, groups=np.arange(len(LABELS)) // 4)
    backwards = index.subset(np.arange(len(index))[::-1])
    for spec in (TestSpec(fraction=0.2, seed=5), TestSpec(fraction=0.25, group=True, seed=5)):
        held, held_backwards = draw_test(index, tmp_path, spec), draw_test(backwards, tmp_path, spec)
        assert {index.paths[i] for i in np.flatnonzero(held)} == {
            backwards.paths[i] for i in np.flatnonzero(held_backwards)
        }


def test_bad_fold_settings() -> None:
    with pytest.raises(ValueError, match="folds must be at least 2, got 1"):
        stratified_folds(LABELS, 1)
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_folds(LABELS, 3, val_fraction=1.5)


@pytest.fixture
def named_dataset(tiny_dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_dataset, tmp_path / "cxr"))


def _fold_file(path: Path, names: list[str]) -> Path:
    path.write_text("FILE NAME,label\n" + "".join(f"{n},0\n" for n in names))
    return path


def test_predefined_folds_honoured_exactly(named_dataset: Path, tmp_path: Path) -> None:
    index = index_folder(named_dataset)
    stems = list(index.stems)
    folds_dir = tmp_path / "folds"
    folds_dir.mkdir()
    chunks = [stems[0:30], stems[30:60], stems[60:100]]  # stems[100:] are in no fold
    for k, chunk in enumerate(chunks, start=1):
        _fold_file(folds_dir / f"fold{k}.csv", chunk)
    predefined = read_fold_files(index, fold_files_in(folds_dir))
    assert [sorted(index.stems[i] for i in t) for t in predefined.test_sets] == [sorted(c) for c in chunks]
    assert predefined.unassigned.tolist() == list(range(100, len(index)))
    splits = predefined_splits(index, predefined, val_fraction=0.1, seed=0)
    for split, test in zip(splits, predefined.test_sets):
        assert np.array_equal(split.test, test)
        _check_partition(split)
        assert not set(np.concatenate([split.train, split.val])) & set(predefined.unassigned)


def test_predefined_fold_errors(named_dataset: Path, tmp_path: Path) -> None:
    index = index_folder(named_dataset)
    a = _fold_file(tmp_path / "fold1.csv", ["COVID-1", "COVID-2"])
    b = _fold_file(tmp_path / "fold2.csv", ["COVID-2", "Normal-1"])
    with pytest.raises(ValueError, match=r"fold2.csv: image COVID-2.png is already in fold .*fold1.csv"):
        read_fold_files(index, [a, b])
    c = _fold_file(tmp_path / "fold3.csv", ["COVID-1", "Nope-7"])
    with pytest.raises(ValueError, match=r"fold3.csv: 1 file name\(s\) are not in the dataset: NOPE-7"):
        read_fold_files(index, [c])
    with pytest.raises(ValueError, match=r"Fold directory .*missing does not exist"):
        fold_files_in(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no fold\*.csv files"):
        fold_files_in(tmp_path / "empty")


def test_paper_fold_files_reproduce_the_papers_test_sets(tmp_path: Path) -> None:
    """A dataset whose file names are the paper's reproduces its ten test sets exactly."""
    import pandas as pd

    folds = fold_files_in(PAPER_FOLDS)
    assert len(folds) == 10
    tables = [pd.read_csv(f) for f in folds]
    names = {"0": "COVID", "1": "Normal", "2": "Viral Pneumonia", "3": "Lung_Opacity"}
    pixel = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
    for table in tables:
        for name, label in zip(table["FILE NAME"], table["label"].astype(str)):
            folder = tmp_path / names[label] / "images"
            folder.mkdir(parents=True, exist_ok=True)
            pixel.save(folder / f"{name}.png")
    index = index_folder(tmp_path)
    assert len(index) == sum(len(t) for t in tables) == 20248
    predefined = read_fold_files(index, folds)
    for table, test in zip(tables, predefined.test_sets):
        assert sorted(index.stems[i].upper() for i in test) == sorted(table["FILE NAME"].str.upper())
    assert len(predefined.unassigned) == 0


@pytest.fixture
def shared_stems(tmp_path: Path) -> Path:
    """Kaggle layout in which ``x-1`` and ``x-2`` are images of two classes each, ``c-3`` two COVID images."""
    pixel = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
    files = {
        "COVID": ["x-1", "x-2", "c-1", "c-2", "c-3"],
        "Normal": ["x-1", "n-1", "n-2"],
        "Viral Pneumonia": ["x-2", "v-1", "v-2"],
    }
    for name, stems in files.items():
        (tmp_path / "cxr" / name / "images").mkdir(parents=True)
        for stem in stems:
            pixel.save(tmp_path / "cxr" / name / "images" / f"{stem}.png")
    pixel.save(tmp_path / "cxr" / "COVID" / "images" / "c-3.jpg")  # c-3: two images of one class
    return tmp_path / "cxr"


def _rows(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text(header + "\n" + "".join(f"{line}\n" for line in lines))
    return path


def _named(index, rows: np.ndarray) -> list[str]:
    return sorted(f"{index.classes[index.labels[i]]}/{index.stems[i]}" for i in rows)


def test_a_name_two_classes_share_is_assigned_by_the_class_column(shared_stems: Path, tmp_path: Path) -> None:
    index = index_folder(shared_stems)
    # The paper's numeric labels (0 COVID, 1 Normal, 2 Viral Pneumonia, 3 Lung_Opacity).
    a = _rows(tmp_path / "fold1.csv", "FILE NAME,label", ["x-1,0", "c-1,0", "x-2,2", "n-1,1"])
    # A column of class names (any case), and a name the two folds share.
    b = _rows(tmp_path / "fold2.csv", "FILE NAME,class", ["X-1,normal", "x-2,COVID", "v-1,Viral Pneumonia"])
    folds = read_fold_files(index, [a, b])
    assert [_named(index, t) for t in folds.test_sets] == [
        ["COVID/c-1", "COVID/x-1", "Normal/n-1", "Viral Pneumonia/x-2"],
        ["COVID/x-2", "Normal/x-1", "Viral Pneumonia/v-1"],
    ]
    assert _named(index, folds.unassigned) == [
        "COVID/c-2",
        "COVID/c-3",
        "COVID/c-3",
        "Normal/n-2",
        "Viral Pneumonia/v-2",
    ]


@pytest.mark.parametrize(
    ("header", "lines", "message"),
    [
        # No class column: which x-1 is meant cannot be told.
        ("FILE NAME", ["c-1", "x-1"], r"fold1\.csv: file name 'x-1' matches images of 2 classes \(COVID, Normal\); "),
        # A label column that contradicts the images it names unambiguously is no class column.
        ("FILE NAME,label", ["c-1,0", "n-1,0", "x-1,1"], r"fold1\.csv: file name 'x-1' matches images of 2 classes"),
        # The class column names a class none of the images of that name has.
        (
            "FILE NAME,label",
            ["c-1,0", "x-1,2"],
            r"fold1\.csv: file name 'x-1' with class 'Viral Pneumonia' \(column 'label'\) matches no image: "
            r"that name is an image of COVID, Normal",
        ),
        # Two images of one class share the name: no column can tell them apart.
        (
            "FILE NAME,label",
            ["c-3,0"],
            r"fold1\.csv: file name 'c-3' matches 2 images of class 'COVID' \(c-3\.jpg, c-3\.png\)",
        ),
    ],
)
def test_an_ambiguous_name_is_an_error(shared_stems: Path, tmp_path: Path, header: str, lines, message) -> None:
    index = index_folder(shared_stems)
    with pytest.raises(ValueError, match=message) as error:
        read_fold_files(index, [_rows(tmp_path / "fold1.csv", header, lines)])
    assert "\n" not in str(error.value)


CLASSES = ("COVID", "Normal", "Viral Pneumonia", "Lung_Opacity")


def _groups(n_groups: int) -> np.ndarray:
    return np.arange(len(LABELS)) % n_groups


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: stratified_folds(LABELS, 5, groups=_groups(3)),
            r"^split 'group': the data has 3 groups, but 5 folds need at least 5; "
            r"use at most 3 folds or split 'stratified'\.$",
        ),
        (
            lambda: stratified_folds(LABELS, 5, groups=_groups(1)),
            r"^split 'group': the data has 1 group, but 5 folds need at least 5; use split 'stratified'\.$",
        ),
        (
            lambda: stratified_folds(LABELS, 4, rows=np.arange(200), groups=_groups(3)),
            r"^split 'group': the data outside the holdout set has 3 groups, but 4 folds need at least 4; ",
        ),
        (
            # 6 groups fill 3 folds, but each fold's other 4 groups cannot give a tenth for validation.
            lambda: stratified_folds(LABELS, 3, val_fraction=0.1, groups=_groups(6)),
            r"^split 'group': fold 0 has 4 groups outside its test set, but val_fraction 0\.1 takes one of 10 parts "
            r"of them and needs at least 10; use val_fraction 0\.25 or more, fewer folds or split 'stratified'\.$",
        ),
    ],
)
def test_too_few_groups_is_a_one_line_error_before_splitting(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_a_group_split_without_a_class_is_an_error_in_training_and_a_warning_in_testing() -> None:
    """A class with fewer groups than parts cannot be in every part: training must have it, testing may not."""
    groups = np.arange(len(LABELS)) // 4  # blocks of 4 images share a source …
    groups[LABELS == 3] = 1000  # … but every Lung_Opacity image comes from one source
    with pytest.raises(
        ValueError,
        match=r"^split 'group': the training set of fold \d has no image of class 'Lung_Opacity' \(its 1 group is in "
        r"the fold's test or validation set\); give that class more groups or use split 'stratified'\.$",
    ):
        stratified_folds(LABELS, 5, seed=0, groups=groups, classes=CLASSES)

    groups[LABELS == 3] = 1000 + np.arange(22) % 3  # three sources for five folds
    with pytest.warns(UserWarning) as caught:
        splits = stratified_folds(LABELS, 5, seed=0, groups=groups, classes=CLASSES)
    assert [str(w.message) for w in caught] == [
        "split 'group': some test or validation sets have no image of a class (its per-class metrics are undefined "
        "there): fold 3 test: 'Lung_Opacity'; fold 4 test: 'Lung_Opacity'"
    ]
    assert [k for k, s in enumerate(splits) if 3 not in LABELS[s.test]] == [3, 4]
    assert all(set(LABELS[s.train]) == {0, 1, 2, 3} for s in splits)


def test_fold_files_and_test_lists_match_names_by_one_rule(shared_stems: Path, tmp_path: Path) -> None:
    """A list means the same images as a fold file and as a test set (one matcher): names with or
    without suffix, any case, shared names told apart by a class column, or a ``file`` column of paths."""
    index = index_folder(shared_stems)
    lists = [
        _rows(tmp_path / "names.csv", "FILE NAME,label", ["C-1.PNG,0", "x-1,1", "n-1,1", "x-2,2", "v-1.png,2"]),
        _rows(
            tmp_path / "paths.csv",
            "file",
            [
                "COVID/images/c-1.png",
                "Normal/images/x-1.png",
                "./Normal/images/n-1.png",
                "Viral Pneumonia/images/v-1.png",
            ],
        ),
    ]
    for csv in lists:
        (fold,) = read_fold_files(index, [csv], root=shared_stems).test_sets
        test = draw_test(index, shared_stems, TestSpec(files=csv))
        assert np.array_equal(np.flatnonzero(test), fold), csv.name
    assert _named(index, read_fold_files(index, lists[:1]).test_sets[0]) == [
        "COVID/c-1",
        "Normal/n-1",
        "Normal/x-1",
        "Viral Pneumonia/v-1",
        "Viral Pneumonia/x-2",
    ]
    with pytest.raises(ValueError, match=r"^.*paths\.csv: a 'file' column names paths relative to the data root"):
        read_fold_files(index, lists[1:])
    with pytest.raises(ValueError, match=r"^Fold file .*nope\.csv does not exist\.$"):
        read_fold_files(index, [tmp_path / "nope.csv"])


def test_a_group_holdout_without_a_class_is_an_error(tmp_path: Path) -> None:
    """Held out as an experiment's test set: every class must be tested and developed on."""
    groups = np.arange(len(LABELS)) // 4
    groups[LABELS == 3] = 1000  # every Lung_Opacity image comes from one source
    index = _index(tmp_path, LABELS, groups)
    with pytest.raises(
        ValueError, match=r"^The (test|dev) set \(group-aware fraction 0\.5\) has no image of class 'Lung_Opacity'"
    ):
        draw_test(index, tmp_path, TestSpec(fraction=0.5, group=True, seed=0))
    with pytest.raises(
        ValueError,
        match=r"^A group-aware test set of fraction 0\.1 is 1 of 10 group folds and needs at least 10 groups; "
        r"the index has 4\.$",
    ):
        draw_test(_index(tmp_path, LABELS, _groups(4)), tmp_path, TestSpec(fraction=0.1, group=True))
