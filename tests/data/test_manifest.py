from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import raycxr.data._manifest as manifest_module
from raycxr.data import (
    Manifest,
    TestSpec,
    content_hash,
    hash_index,
    index_csv,
    index_folder,
    make_manifest,
    read_manifest,
    verify_manifest,
)

SITES = ("site-A", "site-B", "site-C")


@pytest.fixture
def copied(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A writable copy of the tiny Kaggle-layout dataset."""
    return Path(shutil.copytree(tiny_dataset, tmp_path / "cxr"))


@pytest.fixture
def csv_dataset(copied: Path) -> Path:
    """The copy, also indexed by two CSVs (rows shuffled) with richer groups than the URLs.

    ``sites.csv``: the group is one of three sites, each holding every class (for source
    hold-outs). ``patients.csv``: the group is a "patient" of three consecutive images,
    a few spanning two classes (for group-aware fractions).
    """
    index = index_folder(copied)
    rows = []
    for c, name in enumerate(index.classes):
        for k, row in enumerate(np.flatnonzero(index.labels == c)):
            rows.append((index.paths[row].relative_to(copied).as_posix(), name, SITES[k % 3], f"p{(row + 1) // 3}"))
    table = pd.DataFrame(rows, columns=["path", "label", "group", "patient"]).sample(frac=1.0, random_state=1)
    table[["path", "label", "group"]].to_csv(copied / "sites.csv", index=False)
    table[["path", "label", "patient"]].rename(columns={"patient": "group"}).to_csv(
        copied / "patients.csv", index=False
    )
    return copied


def _roles(manifest: Manifest) -> dict[str, str]:
    return dict(zip(manifest.table["file"], manifest.table["role"]))


def test_same_seed_same_manifest_wherever_the_data_lie(tiny_dataset: Path, copied: Path) -> None:
    index = index_folder(tiny_dataset)
    a = make_manifest(index, tiny_dataset, TestSpec(fraction=0.2, seed=3))
    b = make_manifest(index, tiny_dataset, TestSpec(fraction=0.2, seed=3))
    assert a == b and a.table.equals(b.table)
    moved = make_manifest(index_folder(copied), copied, TestSpec(fraction=0.2, seed=3))
    assert moved == a  # paths are relative, hashes are of content
    other = make_manifest(index, tiny_dataset, TestSpec(fraction=0.2, seed=4))
    assert _roles(other) != _roles(a)
    assert list(a.table.columns) == ["file", "class", "group", "role", "sha256"]
    assert a.table["file"].tolist() == sorted(p.relative_to(tiny_dataset).as_posix() for p in index.paths)
    assert a.table["file"].iloc[0] == "COVID/images/COVID-1.png"


def test_hashes_are_the_file_contents(tiny_dataset: Path) -> None:
    index = index_folder(tiny_dataset)
    first = index.paths[0]
    assert content_hash(first) == hashlib.sha256(first.read_bytes()).hexdigest()
    digests = hash_index(index, workers=2)
    assert digests[5] == hashlib.sha256(index.paths[5].read_bytes()).hexdigest()
    manifest = make_manifest(index, tiny_dataset, TestSpec(fraction=0.2))
    by_file = dict(zip(manifest.table["file"], manifest.table["sha256"]))
    assert all(by_file[p.relative_to(tiny_dataset).as_posix()] == d for p, d in zip(index.paths, digests))


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.35, 0.5])
def test_fraction_is_stratified_per_class(tiny_dataset: Path, fraction: float) -> None:
    index = index_folder(tiny_dataset)
    manifest = make_manifest(index, tiny_dataset, TestSpec(fraction=fraction, seed=0))
    assert manifest.has_test and len(manifest) == len(index)
    counts = manifest.counts()
    for c, name in enumerate(index.classes):
        total = int(index.class_counts[c])
        assert counts.loc["dev", name] + counts.loc["test", name] == total
        assert abs(counts.loc["test", name] - fraction * total) <= 1, (name, counts)
    assert counts.loc["test", "total"] == (manifest.table["role"] == "test").sum()
    # Groups come from the Kaggle metadata sheets' URL.
    assert manifest.table["group"].str.startswith("https://").all()


def test_fraction_zero_is_the_papers_protocol(tiny_dataset: Path) -> None:
    manifest = make_manifest(index_folder(tiny_dataset), tiny_dataset, TestSpec(fraction=0))
    assert not manifest.has_test
    assert set(manifest.table["role"]) == {"dev"}
    assert manifest.counts().loc["test"].sum() == 0


def test_group_aware_fraction_never_splits_a_group(csv_dataset: Path) -> None:
    index = index_csv(csv_dataset / "patients.csv")
    for seed in (0, 1):
        manifest = make_manifest(index, csv_dataset / "patients.csv", TestSpec(fraction=0.25, group=True, seed=seed))
        table = manifest.table
        dev_groups = set(table["group"][table["role"] == "dev"])
        test_groups = set(table["group"][table["role"] == "test"])
        assert test_groups and dev_groups and not dev_groups & test_groups
        assert 0.15 < len(table[table["role"] == "test"]) / len(table) < 0.35
        assert (manifest.counts().drop(columns="total") > 0).all().all()
    # Without group=True the same data do split patients (so the test above can fail).
    plain = make_manifest(index, csv_dataset / "patients.csv", TestSpec(fraction=0.25)).table
    assert set(plain["group"][plain["role"] == "dev"]) & set(plain["group"][plain["role"] == "test"])


def test_sources_are_held_out_exactly(csv_dataset: Path) -> None:
    index = index_csv(csv_dataset / "sites.csv")
    for sources in (("site-B",), ("site-A", "site-C")):
        manifest = make_manifest(index, csv_dataset / "sites.csv", TestSpec(sources=sources))
        table = manifest.table
        assert set(table["group"][table["role"] == "test"]) == set(sources)
        assert not set(table["group"][table["role"] == "dev"]) & set(sources)
        assert (table["role"] == "test").sum() == np.isin(index.groups, sources).sum()
    # CSV datasets: files are relative to the CSV's folder.
    assert manifest.table["file"].iloc[0] == "COVID/images/COVID-1.png"


def test_test_files_by_file_name_or_path(copied: Path, tmp_path: Path) -> None:
    index = index_folder(copied)
    chosen = [index.paths[i] for i in (0, 1, 30, 31, 60, 61, 62, 115)]
    assert {index.labels[i] for i in (0, 1, 30, 31, 60, 61, 62, 115)} == {0, 1, 2, 3}
    expected = {p.relative_to(copied).as_posix() for p in chosen}
    by_name = tmp_path / "fold.csv"
    pd.DataFrame({"FILE NAME": [p.stem.lower() for p in chosen], "label": 0}).to_csv(by_name, index=False)
    by_path = tmp_path / "test.csv"
    pd.DataFrame({"file": sorted(expected)}).to_csv(by_path, index=False)
    for csv in (by_name, by_path):
        table = make_manifest(index, copied, TestSpec(files=csv)).table
        assert set(table["file"][table["role"] == "test"]) == expected


def test_write_read_round_trip_and_rows(csv_dataset: Path, tmp_path: Path) -> None:
    source = csv_dataset / "sites.csv"
    index = index_csv(source)
    manifest = make_manifest(index, source, TestSpec(fraction=0.2, seed=7))
    path = manifest.write(tmp_path / "exp" / "splits.csv")
    again = read_manifest(path)
    assert again == manifest and again.path == path
    assert path.read_text().splitlines()[0] == "file,class,group,role,sha256"
    with pytest.raises(ValueError, match=r"splits.csv already exists; an experiment's split is made once"):
        manifest.write(path)
    dev, test = again.rows(index, source)  # the CSV's rows are shuffled: map by file, not position
    assert len(dev) + len(test) == len(index) and not set(dev) & set(test)
    roles = _roles(manifest)
    assert all(roles[index.paths[i].relative_to(csv_dataset).as_posix()] == "test" for i in test)
    assert all(roles[index.paths[i].relative_to(csv_dataset).as_posix()] == "dev" for i in dev)
    assert verify_manifest(again, index, source) == []


def test_verify_names_missing_and_changed_files(copied: Path) -> None:
    manifest = make_manifest(index_folder(copied), copied, TestSpec(fraction=0.2))
    (copied / "COVID" / "images" / "COVID-3.png").unlink()
    changed = copied / "Normal" / "images" / "Normal-5.png"
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte, same size
    changed.write_bytes(bytes(data))
    index = index_folder(copied)
    with pytest.raises(ValueError) as error:
        verify_manifest(manifest, index, copied)
    message = str(error.value)
    assert "1 missing from disk: COVID/images/COVID-3.png" in message
    assert "1 content changed (sha256 differs): Normal/images/Normal-5.png" in message
    assert "Lung_Opacity" not in message
    with pytest.raises(ValueError, match=r"missing from disk: COVID/images/COVID-3\.png"):
        manifest.rows(index, copied)  # cheap check, no hashes
    # Without hashing, only the missing file is found.
    with pytest.raises(ValueError) as error:
        verify_manifest(manifest, index, copied, check_hashes=False)
    assert "Normal-5" not in str(error.value)


def test_verify_reports_new_files_and_reclassed_ones(csv_dataset: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = csv_dataset / "sites.csv"
    manifest = make_manifest(index_csv(source), source, TestSpec(fraction=0.2))
    shutil.copy(csv_dataset / "COVID" / "images" / "COVID-1.png", csv_dataset / "COVID" / "images" / "extra.png")
    table = pd.read_csv(source, dtype=str)
    table.loc[len(table)] = ["COVID/images/extra.png", "COVID", "site-A"]
    table.to_csv(source, index=False)
    index = index_csv(source)
    with caplog.at_level(logging.WARNING, logger="raycxr.data._manifest"):
        assert verify_manifest(manifest, index, source) == ["COVID/images/extra.png"]
    assert "not part of the experiment (ignored): COVID/images/extra.png" in caplog.text
    dev, test = manifest.rows(index, source)
    extra = index.paths.index((csv_dataset / "COVID" / "images" / "extra.png").resolve())
    assert extra not in set(dev) | set(test) and len(dev) + len(test) == len(index) - 1
    with pytest.raises(ValueError, match=r"1 new, not part of the experiment; not allowed: COVID/images/extra.png"):
        verify_manifest(manifest, index, source, allow_new=False)
    table.loc[table["path"] == "Normal/images/Normal-2.png", "label"] = "Lung_Opacity"
    table.to_csv(source, index=False)
    with pytest.raises(ValueError, match=r"1 class changed: Normal/images/Normal-2.png \(Normal → Lung_Opacity\)"):
        verify_manifest(manifest, index_csv(source), source, check_hashes=False)


@pytest.fixture
def no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input must be refused before any file is hashed."""

    def refuse(*args: object, **kwargs: object) -> list[str]:
        raise AssertionError("hashed files before checking the input")

    monkeypatch.setattr(manifest_module, "hash_files", refuse)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fraction": 0.6}, r"Test fraction must be 0 \(no test set\) or lie in \(0, 0.5\], got 0.6"),
        ({"fraction": -0.1}, r"Test fraction must be 0 .* got -0.1"),
        ({"fraction": float("nan")}, r"Test fraction must be 0 .* got nan"),
        ({"fraction": 0.2, "sources": ("a",)}, r"exactly one of .*got fraction and sources"),
        ({"sources": ("a",), "files": "t.csv"}, r"got sources and files"),
        ({}, r"exactly one of fraction, sources, files or official for the test set, got none"),
        ({"sources": ()}, r"Test sources must be one or more non-empty names"),
    ],
)
def test_bad_spec(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TestSpec(**kwargs)


def test_bad_input_is_refused_before_hashing(csv_dataset: Path, tmp_path: Path, no_hashing: None) -> None:
    folder = index_folder(csv_dataset)  # 5 Kaggle URL groups, confounded with classes
    sites = index_csv(csv_dataset / "sites.csv")
    root = csv_dataset

    def fails(index, spec: TestSpec, match: str) -> None:
        with pytest.raises(ValueError, match=match) as error:
            make_manifest(index, root, spec)
        assert "\n" not in str(error.value)

    fails(
        sites,
        TestSpec(sources=("site-Z", "site-A")),
        r"Unknown test source\(s\) site-Z; the known sources are: "
        r"site-A, site-B, site-C",
    )
    fails(folder, TestSpec(fraction=0.1, group=True), r"needs at least 10 groups; the index has 5")
    no_groups = dataclasses.replace(folder, groups=None)
    fails(no_groups, TestSpec(fraction=0.2, group=True), r"group=True needs groups, but the index has none")
    fails(no_groups, TestSpec(sources=("site-A",)), r"Test sources needs groups, but the index has none")
    fails(folder, TestSpec(fraction=0.05), r"test set has no image of class 'Viral Pneumonia': 8 image\(s\)")
    # Holding out all three sites leaves nothing to train on.
    fails(sites, TestSpec(sources=SITES), r"The dev set \(sources .*\) has no image of class 'COVID'")

    def csv(file_name: str, **columns: list[str]) -> Path:
        path = tmp_path / file_name
        pd.DataFrame(columns).to_csv(path, index=False)
        return path

    unknown = [f"Nope-{i}" for i in range(7)]
    fails(
        folder,
        TestSpec(files=csv("u.csv", **{"FILE NAME": ["COVID-1", *unknown]})),
        r"u.csv: 7 file name\(s\) are not in the dataset: NOPE-0, NOPE-1, NOPE-2, NOPE-3, NOPE-4 … \(7 in all\)",
    )
    fails(
        folder,
        TestSpec(files=csv("p.csv", file=["COVID/images/COVID-1.png", "COVID/images/x.png"])),
        r"p.csv: 1 file name\(s\) are not in the dataset: COVID/images/x.png$",
    )
    fails(
        folder,
        TestSpec(files=csv("covid.csv", **{"FILE NAME": ["COVID-1", "COVID-2"]})),
        r"The test set \(files .*covid.csv\) has no image of class 'Lung_Opacity'",
    )
    vp = [p.stem for p in folder.paths if p.parent.parent.name == "Viral Pneumonia"]
    fails(
        folder,
        TestSpec(files=csv("vp.csv", **{"FILE NAME": ["COVID-1", "Lung_Opacity-1", "Normal-1", *vp]})),
        r"The dev set \(files .*vp.csv\) has no image of class 'Viral Pneumonia'",
    )
    fails(folder, TestSpec(files=csv("n.csv", name=["COVID-1"])), r"n.csv: has neither of the columns 'file' and")
    fails(folder, TestSpec(files=tmp_path / "absent.csv"), r"Test files CSV .*absent.csv does not exist")
    fails(
        folder,
        TestSpec(files=csv("s.csv", file=["COVID/images/COVID-1.png"]), group=True),
        r"s.csv: group\(s\) https://.* have images in both dev and test \(group=True\)",
    )


def test_read_manifest_errors(tmp_path: Path) -> None:
    good = "a/1.png,a,,dev," + "0" * 64 + "\n" + "b/2.png,b,g,test," + "f" * 64 + "\n"
    header = "file,class,group,role,sha256\n"
    cases = {
        "file,class,role,sha256\n": r"missing column\(s\) \['group'\]",
        header + good + "b/3.png,b,g,train," + "1" * 64 + "\n": r"line 4: role 'train' of b/3.png is not 'dev' or",
        header + good + "a/1.png,a,,dev," + "1" * 64 + "\n": r"line 4: file a/1.png is listed twice",
        header + "a/1.png,a,,dev,abc\n": r"line 2: sha256 'abc' of a/1.png is not 64 hex digits",
        header + ",a,,dev," + "0" * 64 + "\n": r"line 2: empty file name",
        header + "b/2.png,b,g,test," + "f" * 64 + "\n": r"no dev rows",
        "": r"not a readable CSV manifest",
    }
    for k, (text, match) in enumerate(cases.items()):
        path = tmp_path / f"splits{k}.csv"
        path.write_text(text)
        with pytest.raises(ValueError, match=rf"splits{k}.csv.*{match}"):
            read_manifest(path)
    with pytest.raises(ValueError, match=r"Manifest .*nothing.csv does not exist"):
        read_manifest(tmp_path / "nothing.csv")
    ok = tmp_path / "ok.csv"
    ok.write_text(header + good)
    manifest = read_manifest(ok)
    assert manifest.table["group"].tolist() == ["", "g"] and manifest.has_test
