"""Presets, the magnitude knob and the per-operation fields resolve into one AugmentSpec."""

from __future__ import annotations

import dataclasses

import pytest

from raycxr.augment import AUGMENT_FIELDS, PRESETS, AugmentSpec


def test_none_is_inactive_and_every_other_preset_is_active() -> None:
    assert not AugmentSpec.resolve("none").active
    for preset in ("light", "medium", "heavy"):
        assert AugmentSpec.resolve(preset).active, preset


def test_no_preset_flips() -> None:
    """Laterality: the heart is on the left, so a flip is only ever asked for explicitly."""
    for preset in PRESETS:
        assert AugmentSpec.resolve(preset).hflip == 0.0
    assert AugmentSpec.resolve("none", fields={"aug_hflip": 0.5}).hflip == 0.5


def test_fields_override_the_preset_and_magnitude_scales_every_strength_but_the_flip() -> None:
    spec = AugmentSpec.resolve("medium", 0.5, {"aug_rotate": 4.0, "aug_hflip": 0.5, "aug_shear": None})
    assert spec.rotate == 2.0  # the field's 4°, at half strength
    assert spec.shear == PRESETS["medium"]["aug_shear"] / 2  # None: the preset's
    assert spec.hflip == 0.5  # not scaled
    assert spec.clahe == 0.0 and spec.mixup == 0.0  # off in medium
    off = AugmentSpec.resolve("heavy", 0.0)
    assert not off.active
    assert AugmentSpec.resolve("heavy", 0.0, {"aug_hflip": 0.3}).active


def test_every_field_has_a_spec_attribute() -> None:
    names = {f.name for f in dataclasses.fields(AugmentSpec)}
    assert {name.removeprefix("aug_") for name in AUGMENT_FIELDS} == names
    for preset, values in PRESETS.items():
        assert set(values) <= set(AUGMENT_FIELDS), preset
        for name, value in values.items():
            low, high, _ = AUGMENT_FIELDS[name]
            assert low <= value <= high, (preset, name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("strong",), "augment must be one of none, light, medium, heavy, got 'strong'"),
        (("light", 1.5), "augment_magnitude must lie in [0, 1], got 1.5"),
        (("light", 1.0, {"aug_rotate": 181}), "aug_rotate must lie in [0, 180], got 181"),
        (("none", 1.0, {"aug_clahe": -0.1}), "aug_clahe must lie in [0, 1], got -0.1"),
    ],
)
def test_bad_values_are_one_line_errors(args: tuple, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        AugmentSpec.resolve(*args)
    assert str(caught.value) == message
