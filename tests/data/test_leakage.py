"""Leakage audit: duplicates planted on disk among synthetic phantoms, and the pair finder."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from raycxr.data import (
    AUDIT_SIZE,
    Split,
    _duplicates,
    audit,
    decode_dataset,
    dedupe_rows,
    duplicate_groups,
    file_phashes,
    find_duplicates,
    fold_parts,
    hash_files,
    index_folder,
    leaked_test_rows,
    perceptual_hashes,
    read_image,
    straddle_summary,
    straddling,
    stratified_folds,
)
from raycxr.data._phash import _popcount_swar
from raycxr.data.synthetic import generate

# 256 px, close to the 299 px of the Kaggle set: a 1-px shift is then as small a change as
# it is on the real images. The audit hashes every file at AUDIT_SIZE whatever the training size.
SIZE = 256

# Planted copy -> (its source, how it was made). Copies are the 'test' role.
PLANTED = {
    "COVID/images/COVID-1-copy.png": ("COVID/images/COVID-1.png", "exact"),
    "Viral Pneumonia/images/from-COVID-1.jpg": ("COVID/images/COVID-1.png", "jpeg"),
    "Normal/images/Normal-3-resized.png": ("Normal/images/Normal-3.png", "resize"),
    "Lung_Opacity/images/Lung_Opacity-2-q75.jpg": ("Lung_Opacity/images/Lung_Opacity-2.png", "jpeg"),
    "Normal/images/Normal-7-shifted.png": ("Normal/images/Normal-7.png", "shift"),
    "Normal/images/Normal-9-shifted-x.png": ("Normal/images/Normal-9.png", "shift-x"),
    "COVID/images/COVID-4-brighter.png": ("COVID/images/COVID-4.png", "brighter"),
}


def _plant(root: Path) -> None:
    for copy, (source, how) in PLANTED.items():
        src, dst = root / source, root / copy
        if how == "exact":
            shutil.copyfile(src, dst)
            continue
        with Image.open(src) as image:
            pixels = np.asarray(image.convert("L"))
        if how == "jpeg":
            Image.fromarray(pixels).save(dst, quality=75)
        elif how == "resize":  # 256 -> 320 px; decode_dataset brings it back to 256
            Image.fromarray(pixels).resize((320, 320), Image.Resampling.BILINEAR).save(dst)
        elif how == "shift":  # 1 px down, top row repeated
            Image.fromarray(np.concatenate([pixels[:1], pixels[:-1]])).save(dst)
        elif how == "shift-x":  # 1 px right, left column repeated
            Image.fromarray(np.concatenate([pixels[:, :1], pixels[:, :-1]], axis=1)).save(dst)
        elif how == "brighter":  # +8 grey levels
            Image.fromarray(np.clip(pixels.astype(np.int16) + 8, 0, 255).astype(np.uint8)).save(dst)


class Planted:
    """The planted dataset, decoded and hashed once for the module."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.index = index_folder(root)
        self.rel = [p.relative_to(root).as_posix() for p in self.index.paths]
        self.row = {name: i for i, name in enumerate(self.rel)}
        decoded = decode_dataset(self.index, SIZE, cache_dir=cache)
        assert len(decoded.index) == len(self.index)
        self.images = decoded.images
        self.sha = [hashlib.sha256(p.read_bytes()).hexdigest() for p in self.index.paths]
        self.phashes = file_phashes(self.index.paths, self.sha, cache)
        self.copies = np.array([name in PLANTED for name in self.rel])
        self.roles = np.where(self.copies, "test", "dev")

    def pair(self, a: str, b: str) -> tuple[int, int]:
        return tuple(sorted((self.row[a], self.row[b])))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    root = generate(tmp_path_factory.mktemp("leak") / "cxr", n=60, size=SIZE, seed=0, workers=2)
    _plant(root)
    return Planted(root, tmp_path_factory.mktemp("leak-cache"))


def _expected_pairs(p: Planted) -> dict[tuple[int, int], str]:
    """Every planted copy with its source, and the two copies of COVID-1 with each other."""
    expected = {p.pair(copy, source): "exact" if how == "exact" else "near" for copy, (source, how) in PLANTED.items()}
    expected[p.pair("COVID/images/COVID-1-copy.png", "Viral Pneumonia/images/from-COVID-1.jpg")] = "near"
    return expected


def test_planted_copies_found_and_nothing_else(planted: Planted) -> None:
    pairs = find_duplicates(planted.sha, planted.phashes)
    assert pairs.attrs == {"max_distance": 288, "hash_bits": 2304}
    found = {(a, b): kind for a, b, kind in zip(pairs["row_a"], pairs["row_b"], pairs["kind"])}
    expected = _expected_pairs(planted)
    report = {(planted.rel[a], planted.rel[b]): d for a, b, d in zip(pairs["row_a"], pairs["row_b"], pairs["distance"])}
    assert found == expected, report
    assert (pairs["row_a"] < pairs["row_b"]).all() and not pairs.duplicated(["row_a", "row_b"]).any()
    # The byte copy is also pixel-identical.
    assert pairs.loc[pairs["kind"] == "exact", "distance"].tolist() == [0]


def test_distinct_phantoms_are_farther_than_the_threshold(planted: Planted) -> None:
    originals = ~planted.copies
    sha = [h for h, keep in zip(planted.sha, originals) if keep]
    assert find_duplicates(sha, planted.phashes[originals]).empty
    # The margin: the closest distinct phantoms are well beyond 288 bits (~400 measured).
    loose = find_duplicates(sha, planted.phashes[originals], max_distance=340)
    assert loose.empty, loose.sort_values("distance").head()


def test_cross_role_counts(planted: Planted) -> None:
    result = audit(find_duplicates(planted.sha, planted.phashes), planted.roles)
    counts = result.counts.set_index(["role_a", "role_b"])
    assert counts.loc[("dev", "test")].tolist() == [1, 6]  # exact, near
    assert counts.loc[("test", "test")].tolist() == [0, 1]  # the two copies of COVID-1
    assert counts.loc[("dev", "dev")].tolist() == [0, 0]
    assert result.count("test", "dev", kind="exact") == 1 and result.count("dev", "test") == 7
    assert result.n_exact == 1 and result.n_near == 7 and len(result.leaks) == 7
    summary = result.summary()
    assert "1 exact-duplicate and 7 near-duplicate pair(s)" in summary
    assert "7 pair(s) cross roles" in summary and "dev–test: 1 exact, 6 near" in summary
    assert "6 group(s) holding 13 images (largest 3)" in summary and "would drop 7" in summary

    # Same rows, fold roles: each copy lands in the fold after its source's.
    folds = np.array([f"fold{i % 3}" for i in range(len(planted.roles))], dtype=object)
    by_fold = audit(find_duplicates(planted.sha, planted.phashes), folds)
    expected = {}
    for (a, b), kind in _expected_pairs(planted).items():
        key = (*sorted((folds[a], folds[b])), kind)
        expected[key] = expected.get(key, 0) + 1
    got = {(r.role_a, r.role_b, k): getattr(r, k) for r in by_fold.counts.itertuples() for k in ("exact", "near")}
    assert {key: v for key, v in got.items() if v} == expected
    assert len(by_fold.counts) == 6  # 3 within + 3 across


def test_dedupe_keeps_one_of_each_planted_group(planted: Planted) -> None:
    pairs = find_duplicates(planted.sha, planted.phashes)
    n = len(planted.index)
    keep = dedupe_rows(n, pairs)
    kept = {planted.rel[i] for i in keep}
    assert len(keep) == n - len(PLANTED)
    for source in {s for s, _ in PLANTED.values()}:
        group = {source} | {c for c, (s, _) in PLANTED.items() if s == source}
        assert len(group & kept) == 1, group & kept
        assert group & kept == {min(group, key=planted.row.get)}  # default order: the group's first row
    in_groups = {planted.row[name] for name in PLANTED} | {planted.row[s] for s, _ in PLANTED.values()}
    assert set(range(n)) - in_groups <= set(keep.tolist())  # every other image stays
    # Preferring the copies keeps a copy of each group instead of its source.
    prefer_copies = np.argsort(~planted.copies, kind="stable")
    kept_copies = {planted.rel[i] for i in dedupe_rows(n, pairs, order=prefer_copies)}
    assert not {s for s, _ in PLANTED.values()} & kept_copies
    groups = duplicate_groups(n, pairs)
    assert len(np.unique(groups)) == len(keep)


def test_csv_lists_pairs_with_relative_paths(planted: Planted, tmp_path: Path) -> None:
    result = audit(find_duplicates(planted.sha, planted.phashes), planted.roles)
    written = result.write_csv(tmp_path, planted.index, planted.root)
    assert written == tmp_path / "leakage.csv"
    table = pd.read_csv(written)
    assert list(table.columns) == ["file_a", "file_b", "class_a", "class_b", "role_a", "role_b", "kind", "distance"]
    assert len(table) == 8
    for name in [*table["file_a"], *table["file_b"]]:
        assert not Path(name).is_absolute() and (planted.root / name).is_file(), name
    jpeg = table[(table["file_a"] == "COVID/images/COVID-1.png") & (table["file_b"].str.endswith("from-COVID-1.jpg"))]
    assert jpeg[["class_a", "class_b", "role_a", "role_b", "kind"]].values.tolist() == [
        ["COVID", "Viral Pneumonia", "dev", "test", "near"]
    ]
    assert table["role_a"].ne(table["role_b"]).tolist() == [True] * 7 + [False]  # leaks first
    assert table["kind"].iloc[0] == "exact"


def test_content_hashes_and_imagehash_layout(planted: Planted) -> None:
    assert hash_files(planted.index.paths[:5]) == planted.sha[:5]
    image = planted.images[0]
    h8 = perceptual_hashes(planted.images[:1], hash_size=8)
    assert h8.shape == (1, 1) and f"{h8[0, 0]:016x}" == str(imagehash.phash(Image.fromarray(image)))
    h16 = perceptual_hashes(planted.images[:1], hash_size=16)[0]
    assert "".join(f"{w:016x}" for w in h16) == str(imagehash.phash(Image.fromarray(image), hash_size=16))
    assert perceptual_hashes(planted.images[:2], hash_size=5).shape == (2, 1)  # 25 bits, zero-padded
    # The audit's hash: the file decoded at AUDIT_SIZE (bilinear, stretched), 48 x 48 = 2304 bits.
    audit_image = read_image(planted.index.paths[0], AUDIT_SIZE, "bilinear", "stretch")
    assert planted.phashes.shape == (len(planted.index), 36)
    assert np.array_equal(planted.phashes[0], perceptual_hashes(audit_image[None])[0])


def _brute_force(sha: list[str], words: np.ndarray, max_distance: int) -> dict[tuple[int, int], tuple[str, int]]:
    ints = [int("".join(f"{w:064b}" for w in row), 2) for row in words]
    out = {}
    for a, b in itertools.combinations(range(len(ints)), 2):
        distance = (ints[a] ^ ints[b]).bit_count()
        if sha[a] == sha[b]:
            out[(a, b)] = ("exact", distance)
        elif distance <= max_distance:
            out[(a, b)] = ("near", distance)
    return out


@pytest.mark.parametrize("swar", [False, True], ids=["numpy-popcount", "swar-fallback"])
@pytest.mark.parametrize("n_words", [1, 4])
def test_pair_finder_matches_brute_force(n_words: int, swar: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if swar:  # what numpy < 2.0 (no np.bitwise_count) runs
        monkeypatch.setattr(_duplicates, "_popcount", _popcount_swar)
    rng = np.random.default_rng(n_words)
    n, bits = 200, 64 * n_words
    words = rng.integers(0, 2**64, size=(n, n_words), dtype=np.uint64, endpoint=False)
    # Near copies: a row with a few random bits flipped, some chained.
    for target in range(100, 160):
        source = int(rng.integers(0, target))
        flipped = np.zeros(bits, dtype=np.uint8)
        flipped[rng.choice(bits, size=int(rng.integers(0, bits // 8)), replace=False)] = 1
        words[target] = words[source] ^ np.packbits(flipped).view(">u8").astype(np.uint64)
    words[n - 1] = words[n - 2] ^ np.uint64(1)  # the very last pair, at a block edge
    sha = [f"h{i}" for i in range(n)]
    for i in range(160, 175):  # exact copies, whatever their hashes
        sha[i] = sha[int(rng.integers(0, 50))]
    threshold = bits // 16
    expected = _brute_force(sha, words, threshold)
    assert sum(kind == "near" for kind, _ in expected.values()) > 10 and any(k == "exact" for k, _ in expected.values())
    for chunk in (1, 1000, 1 << 20):  # one row per block, uneven blocks, one block
        pairs = find_duplicates(sha, words if n_words > 1 else words[:, 0], threshold, chunk_elements=chunk)
        got = {(a, b): (k, d) for a, b, k, d in pairs.itertuples(index=False)}
        assert got == expected, chunk
        assert pairs[["row_a", "row_b"]].equals(pairs[["row_a", "row_b"]].sort_values(["row_a", "row_b"]))


def test_popcount_fallback_matches_python() -> None:
    values = np.random.default_rng(0).integers(0, 2**64, size=1000, dtype=np.uint64, endpoint=False)
    values[:3] = [0, 2**64 - 1, 2**63]
    assert _popcount_swar(values).tolist() == [int(v).bit_count() for v in values]


def test_groups_and_dedupe_on_chains() -> None:
    # 3 ~ 5 ~ 8 but 3 and 8 are no pair: complete linkage keeps 8 out of {3, 5}.
    pairs = np.array([[3, 5], [5, 8], [1, 2]])
    assert duplicate_groups(9, pairs).tolist() == [0, 1, 1, 2, 3, 2, 4, 5, 6]
    assert dedupe_rows(9, pairs).tolist() == [0, 1, 3, 4, 6, 7, 8]
    order = [8, 2, 0, 1, 3, 4, 5, 6, 7]
    assert dedupe_rows(9, pairs, order=order).tolist() == [0, 2, 3, 4, 6, 7, 8]
    # Closest pair first: 5 ~ 8 (2 bits) joins before 3 ~ 5 (9 bits), and 3 stays alone.
    table = pd.DataFrame({"row_a": [3, 5], "row_b": [5, 8], "kind": ["near", "near"], "distance": [9, 2]})
    assert duplicate_groups(9, table).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 5]
    # A full triangle is one group.
    assert duplicate_groups(4, np.array([[0, 1], [1, 2], [0, 2]])).tolist() == [0, 0, 0, 1]
    assert dedupe_rows(4, np.zeros((0, 2), dtype=int)).tolist() == [0, 1, 2, 3]
    assert find_duplicates([], np.zeros(0, dtype=np.uint64)).empty
    assert find_duplicates(["x"], np.zeros((1, 4), dtype=np.uint64)).empty


def test_fold_roles_in_natural_order() -> None:
    pairs = pd.DataFrame(
        {"row_a": [0, 1, 2], "row_b": [3, 2, 4], "kind": ["exact", "near", "near"], "distance": [0, 3, 9]}
    )
    result = audit(pairs, ["fold10", "fold2", "fold2", "fold2", "fold10"])
    assert result.counts[["role_a", "role_b"]].values.tolist() == [
        ["fold2", "fold2"],
        ["fold2", "fold10"],
        ["fold10", "fold10"],
    ]
    assert result.counts[["exact", "near"]].values.tolist() == [[0, 1], [1, 1], [0, 0]]
    assert "no exact or near-duplicate" in audit(pairs.iloc[:0], ["a", "b", "c", "d", "e"]).summary()


def test_bad_input_is_named() -> None:
    words = np.zeros((3, 4), dtype=np.uint64)
    with pytest.raises(ValueError, match=r"content_hashes has 2 entries but phashes has 3"):
        find_duplicates(["a", "b"], words)
    with pytest.raises(ValueError, match=r"max_distance must be an integer in \[0, 256\], got 257"):
        find_duplicates(["a", "b", "c"], words, max_distance=257)
    with pytest.raises(ValueError, match=r"max_distance must be an integer in \[0, 64\], got -1"):
        find_duplicates(["a", "b", "c"], words[:, 0], max_distance=-1)
    with pytest.raises(ValueError, match=r"phashes must be a 1-D or 2-D uint64 array.*int64"):
        find_duplicates(["a", "b", "c"], np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"content_hashes\[1\] must be a non-empty string"):
        find_duplicates(["a", "", "c"], words)
    with pytest.raises(ValueError, match=r"images must be an \(N, S, S\) uint8 array.*float64"):
        perceptual_hashes(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match=r"hash_size must be an integer in \[2, 64\], got 1"):
        perceptual_hashes(np.zeros((2, 8, 8), dtype=np.uint8), hash_size=1)
    with pytest.raises(ValueError, match=r"pairs name row 7, outside \[0, 5\)"):
        dedupe_rows(5, np.array([[0, 7]]))
    with pytest.raises(ValueError, match=r"order must be a permutation of range\(3\)"):
        dedupe_rows(3, np.zeros((0, 2), dtype=int), order=[0, 0, 1])
    pairs = find_duplicates(["a", "a", "c"], words)
    with pytest.raises(ValueError, match=r"pairs name row 1, outside \[0, 1\)"):
        audit(pairs, ["dev"])
    with pytest.raises(ValueError, match=r"roles must be 1-D"):
        audit(pairs, [["dev"] * 3])


# --------------------------------------------------------------------------- audit resolution and cache


def test_hashes_are_cached_by_content_and_need_no_second_decode(planted: Planted, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    paths, sha = planted.index.paths[:4], planted.sha[:4]
    first = file_phashes(paths, sha, cache)
    assert np.array_equal(first, planted.phashes[:4])
    assert len(list((cache / "phash").glob("*.npz"))) == 1
    # The files are gone: the second run reads every hash from the store, decoding nothing.
    gone = [tmp_path / f"moved-{i}.png" for i in range(4)]
    assert np.array_equal(file_phashes(gone, sha, cache), first)
    with pytest.raises(OSError, match=r"moved-0\.png"):
        file_phashes(gone, sha, cache, use_cache=False)


def test_chain_of_close_but_distinct_images_is_not_merged(planted: Planted, tmp_path: Path) -> None:
    """a, a shifted 1 px, a shifted 2 px: each step within the threshold, the ends beyond it."""
    root = tmp_path / "chain"
    root.mkdir()
    with Image.open(planted.root / "Normal/images/Normal-2.png") as image:
        pixels = np.asarray(image.convert("L"))
    paths = []
    for shift in range(3):
        path = root / f"step-{shift}.png"
        Image.fromarray(np.concatenate([np.repeat(pixels[:, :1], shift, axis=1), pixels[:, : SIZE - shift]], 1)).save(
            path
        )
        paths.append(path)
    sha = hash_files(paths)
    pairs = find_duplicates(sha, file_phashes(paths, sha, tmp_path / "cache"))
    assert pairs[["row_a", "row_b"]].values.tolist() == [[0, 1], [1, 2]], pairs  # a ~ b ~ c, a ≁ c
    assert duplicate_groups(3, pairs).tolist() in ([0, 0, 1], [0, 1, 1])
    assert len(dedupe_rows(3, pairs)) == 2  # one of the close pair goes; the distinct end stays


# --------------------------------------------------------------------------- boundaries


def test_duplicates_straddling_cv_folds_are_reported(planted: Planted) -> None:
    pairs = find_duplicates(planted.sha, planted.phashes)
    labels = planted.index.labels
    splits = stratified_folds(labels, 3, 0.1, seed=0)
    parts = fold_parts(splits)
    assert sorted(parts) == list(range(len(labels)))
    expected = [(a, b) for a, b in _expected_pairs(planted) if parts[a] != parts[b]]
    assert expected, "the planted copies should land in different folds"
    straddle = straddling(pairs, parts)
    assert list(zip(straddle["row_a"], straddle["row_b"])) == sorted(expected)
    assert straddle.attrs["considered"] == len(pairs) and straddle.attrs["parts"] == ["fold1", "fold2", "fold3"]
    assert all(straddle["part_a"] != straddle["part_b"])
    summary = straddle_summary(straddle, "CV folds")
    assert summary.startswith(f"CV folds: {len(expected)} of {len(pairs)} duplicate pair(s)")
    # Only some rows partitioned (e.g. the dev rows): pairs with an image outside are ignored.
    dev_only = {r: p for r, p in parts.items() if not planted.copies[r]}
    assert straddling(pairs, dev_only).attrs["considered"] == 0
    assert "no duplicate pair straddles" in straddle_summary(straddling(pairs, dev_only), "CV folds")


def test_straddling_by_file_and_train_val() -> None:
    pairs = pd.DataFrame(
        {
            "file_a": ["a.png", "b.png", "c.png"],
            "file_b": ["x.png", "y.png", "t.png"],
            "kind": ["exact", "near", "near"],
        }
    )
    parts = {"a.png": "train", "x.png": "val", "b.png": "train", "y.png": "train"}  # t.png: a test image
    straddle = straddling(pairs, parts)
    assert straddle[["file_a", "file_b", "part_a", "part_b"]].values.tolist() == [["a.png", "x.png", "train", "val"]]
    assert straddle.attrs["considered"] == 2
    assert straddle_summary(straddle, "Search train/validation") == (
        "Search train/validation: 1 of 2 duplicate pair(s) (1 exact, 0 near) straddle two parts and leak across "
        "them (train–val: 1)."
    )
    assert straddling(pairs.iloc[:0], parts).empty
    # Test images with a duplicate outside test: left out for the leak-free test metrics.
    assert leaked_test_rows(pairs, ["t.png", "x.png"]) == ["t.png", "x.png"]
    assert leaked_test_rows(pairs, ["a.png", "x.png"]) == []  # a pair within test leaks nothing
    rows = pd.DataFrame({"row_a": [0, 1, 4], "row_b": [5, 6, 7]})
    assert leaked_test_rows(rows, [5, 7]) == [5, 7]
    # Labels per row as a sequence; None is a row in no part.
    labels = ["f1", "f1", None, None, "f2", "f2", "f1", "f2"]
    assert straddling(rows, labels)[["row_a", "row_b"]].values.tolist() == [[0, 5]]


def test_bad_boundary_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"pairs needs columns row_a, row_b .* or file_a, file_b"):
        straddling(pd.DataFrame({"a": [1]}), {})
    with pytest.raises(ValueError, match=r"straddle must be the table of straddling\(\)"):
        straddle_summary(pd.DataFrame({"row_a": [1]}), "CV folds")
    with pytest.raises(ValueError, match=r"row 3 is in the test set of fold1 and fold2"):
        fold_parts(
            [Split(np.array([0]), np.array([1]), np.array([3])), Split(np.array([0]), np.array([1]), np.array([3]))]
        )
    with pytest.raises(ValueError, match=r"size must be an integer >= 32, got 16"):
        file_phashes([], [], size=16)
    with pytest.raises(ValueError, match=r"content_hashes has 1 entries but paths has 0"):
        file_phashes([], ["x"])
