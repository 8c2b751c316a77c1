"""The resize policy: how a non-square radiograph becomes the model's square input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raycxr.data import DEFAULT_RESIZE, RESIZE_POLICIES, DatasetIndex, cache_key, decode_dataset, index_csv, read_image
from raycxr.train import TrainConfig

HEIGHT, WIDTH = 300, 200  # portrait, like a chest film


def _disc(height: int, width: int, radius: float) -> np.ndarray:
    """A white disc on grey, centred, with a 4-px black frame marking the image's edges."""
    rows, cols = np.mgrid[:height, :width]
    image = np.full((height, width), 100, dtype=np.uint8)
    image[(rows - (height - 1) / 2) ** 2 + (cols - (width - 1) / 2) ** 2 <= radius**2] = 255
    image[:4], image[-4:], image[:, :4], image[:, -4:] = 0, 0, 0, 0
    return image


def _extent(mask: np.ndarray) -> tuple[int, int]:
    """(height, width) of the bounding box of ``mask``."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


@pytest.fixture
def portrait(tmp_path: Path) -> Path:
    path = tmp_path / "portrait.png"
    Image.fromarray(_disc(HEIGHT, WIDTH, 80)).save(path)
    return path


def test_the_default_is_pad_for_files_and_configurations() -> None:
    assert DEFAULT_RESIZE == "pad" and TrainConfig().resize == "pad"
    assert RESIZE_POLICIES == ("stretch", "crop", "pad")


@pytest.mark.parametrize("resize", ["pad", "crop"])
def test_a_circle_stays_a_circle(portrait: Path, resize: str) -> None:
    out = read_image(portrait, 150, "nearest", resize)
    assert out.shape == (150, 150)
    height, width = _extent(out == 255)
    assert abs(height - width) <= 1  # 160 px disc: 80 px at 1/2 (pad) or 120 px at 3/4 (crop)
    assert height == {"pad": 80, "crop": 120}[resize]


def test_stretch_distorts_the_circle_into_an_ellipse(portrait: Path) -> None:
    height, width = _extent(read_image(portrait, 150, "nearest", "stretch") == 255)
    assert width / height == pytest.approx(1.5, abs=0.03)  # 200 px wide stretched to 150, 300 high shrunk to 150


def test_pad_keeps_the_whole_image_and_crop_cuts_the_long_axis(portrait: Path) -> None:
    padded = read_image(portrait, 300, "nearest", "pad")
    assert np.all(padded[:, :50] == 0) and np.all(padded[:, -50:] == 0)  # black bars left and right
    assert np.array_equal(padded[:, 50:250], _disc(HEIGHT, WIDTH, 80))  # the whole image, untouched
    cropped = read_image(portrait, 200, "nearest", "crop")
    assert np.array_equal(cropped, _disc(HEIGHT, WIDTH, 80)[50:250])  # top and bottom 50 rows cut


def test_an_odd_difference_leaves_the_extra_row_at_the_bottom(tmp_path: Path) -> None:
    image = np.arange(5 * 2, dtype=np.uint8).reshape(5, 2) * 20 + 10
    Image.fromarray(image).save(tmp_path / "odd.png")
    assert np.array_equal(read_image(tmp_path / "odd.png", 2, "nearest", "crop"), image[1:3])
    padded = read_image(tmp_path / "odd.png", 5, "nearest", "pad")
    assert np.array_equal(padded[:, 1:3], image) and not padded[:, [0, 3, 4]].any()


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_square_images_are_the_same_under_every_policy(tmp_path: Path, interpolation: str) -> None:
    Image.fromarray(_disc(299, 299, 100)).save(tmp_path / "square.png")
    results = [read_image(tmp_path / "square.png", 64, interpolation, resize) for resize in RESIZE_POLICIES]
    assert all(np.array_equal(results[0], other) for other in results[1:])


def test_an_unknown_policy_is_one_line_naming_the_field(portrait: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^resize: unknown policy 'squash'; expected one of stretch, crop, pad\.$"):
        read_image(portrait, 32, "nearest", "squash")  # type: ignore[arg-type]
    index = _index(tmp_path, portrait)
    with pytest.raises(ValueError, match=r"^resize: unknown policy 'squash'"):
        decode_dataset(index, 32, resize="squash", cache_dir=tmp_path / "c")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resize"):
        TrainConfig(resize="squash")


def _index(tmp_path: Path, image: Path) -> DatasetIndex:
    """``image`` as a Normal and a COVID row (an index needs two classes)."""
    csv = tmp_path / "index.csv"
    csv.write_text(f"path,label\n{image},Normal\n{image},COVID\n")
    return index_csv(csv)


def test_the_cache_key_includes_the_policy_and_no_policy_reads_anothers_array(portrait: Path, tmp_path: Path) -> None:
    index = _index(tmp_path, portrait)
    keys = {resize: cache_key(index, 64, "nearest", resize) for resize in RESIZE_POLICIES}
    assert len(set(keys.values())) == 3
    cache = tmp_path / "c"
    decoded = {resize: decode_dataset(index, 64, cache_dir=cache, resize=resize) for resize in RESIZE_POLICIES}
    assert not any(d.from_cache for d in decoded.values())
    for resize, first in decoded.items():
        again = decode_dataset(index, 64, cache_dir=cache, resize=resize)
        assert again.from_cache and again.cache_file == first.cache_file
        assert np.array_equal(again.images[1], read_image(portrait, 64, "nearest", resize))
    assert not np.array_equal(decoded["pad"].images, decoded["crop"].images)
    assert not np.array_equal(decoded["pad"].images, decoded["stretch"].images)
