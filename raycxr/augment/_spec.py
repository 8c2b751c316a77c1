"""What to augment and how strongly: the presets, the magnitude knob and the per-operation fields.

An :class:`AugmentSpec` is resolved once from a training configuration: the preset's values,
overridden by every individual field that is set, then scaled by ``augment_magnitude``
(TrivialAugment / RandAugment style: one knob for the strength of everything). Every strength
is 0 when its operation is off, so ``augment: none`` with no field set is no augmentation at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

Preset = Literal["none", "light", "medium", "heavy"]

#: Every per-operation field: (low, high, meaning). 0 turns the operation off.
AUGMENT_FIELDS: dict[str, tuple[float, float, str]] = {
    "aug_rotate": (0.0, 180.0, "random affine: rotation up to ± this many degrees"),
    "aug_translate": (0.0, 0.5, "random affine: shift up to ± this fraction of the image size"),
    "aug_scale": (0.0, 0.5, "random affine: zoom by a factor in [1 − s, 1 + s]"),
    "aug_shear": (0.0, 45.0, "random affine: shear up to ± this many degrees"),
    "aug_crop": (0.0, 0.9, "random resized crop: keep between 1 − c and all of the image area, resized back"),
    "aug_brightness": (0.0, 1.0, "add a brightness shift in ± b (pixels in [0, 1])"),
    "aug_contrast": (0.0, 0.9, "scale contrast by a factor in [1 − c, 1 + c]"),
    "aug_gamma": (0.0, 0.9, "gamma correction with gamma in [1 − g, 1 + g]"),
    "aug_noise": (0.0, 0.5, "Gaussian noise of this standard deviation (pixels in [0, 1]), on half the images"),
    "aug_blur": (0.0, 5.0, "Gaussian blur with sigma up to this many pixels, on half the images"),
    "aug_clahe": (0.0, 1.0, "probability of CLAHE (kornia equalize_clahe, clip limit 2, 8×8 tiles)"),
    "aug_hflip": (0.0, 1.0, "probability of a horizontal flip (off by default: the heart is on the left)"),
    "mixup": (0.0, 10.0, "mixup: λ ~ Beta(a, a) per batch, loss λ·L(y_a) + (1 − λ)·L(y_b)"),
    "cutmix": (0.0, 10.0, "cutmix: λ ~ Beta(a, a) per batch, a box of area 1 − λ from another image"),
}

#: The fields ``augment_magnitude`` does not scale: a flip has no strength.
UNSCALED = frozenset({"aug_hflip"})

#: Values of the presets at magnitude 1 (fields not named are 0). ``light`` is geometric jitter
#: and brightness/contrast only (cheap on the CPU); ``heavy`` adds crop, blur and mixup. CLAHE is in
#: no preset: kornia's CLAHE was the costliest operation on the CPU (``benchmarks/augment_cost.py``:
#: even at probability 0.1 it cost about as much as all of ``heavy``'s other operations together),
#: so it is there to ask for (``aug_clahe``), not a default.
PRESETS: dict[str, dict[str, float]] = {
    "none": {},
    "light": {"aug_rotate": 5.0, "aug_translate": 0.05, "aug_scale": 0.05, "aug_brightness": 0.1,
              "aug_contrast": 0.1},
    "medium": {"aug_rotate": 10.0, "aug_translate": 0.08, "aug_scale": 0.1, "aug_shear": 5.0,
               "aug_brightness": 0.2, "aug_contrast": 0.2, "aug_gamma": 0.2, "aug_noise": 0.02},
    "heavy": {"aug_rotate": 15.0, "aug_translate": 0.1, "aug_scale": 0.15, "aug_shear": 8.0, "aug_crop": 0.25,
              "aug_brightness": 0.3, "aug_contrast": 0.3, "aug_gamma": 0.3, "aug_noise": 0.03, "aug_blur": 1.0,
              "mixup": 0.2},
}  # fmt: skip


def check_augment_field(name: str, value: float | None) -> None:
    """Raise a one-line ``ValueError`` when ``value`` of field ``name`` lies outside its range."""
    low, high, _ = AUGMENT_FIELDS[name]
    if value is not None and not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got {value}")


def check_magnitude(value: float) -> None:
    """Raise a one-line ``ValueError`` when the magnitude lies outside [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"augment_magnitude must lie in [0, 1], got {value}")


@dataclasses.dataclass(frozen=True)
class AugmentSpec:
    """The resolved strength of every operation (the fields of :data:`AUGMENT_FIELDS`, without ``aug_``)."""

    rotate: float = 0.0
    translate: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    crop: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    gamma: float = 0.0
    noise: float = 0.0
    blur: float = 0.0
    clahe: float = 0.0
    hflip: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0

    @property
    def active(self) -> bool:
        """Whether anything changes the inputs (``False``: training is exactly as without augmentation)."""
        return any(v > 0 for v in dataclasses.astuple(self))

    @property
    def pixels(self) -> bool:
        """Whether a per-image operation (anything but mixup / cutmix) is on."""
        return any(v > 0 for k, v in dataclasses.asdict(self).items() if k not in ("mixup", "cutmix"))

    @classmethod
    def resolve(cls, preset: str, magnitude: float = 1.0, fields: Mapping[str, Any] | None = None) -> AugmentSpec:
        """The spec of ``preset`` with the fields given (not ``None``) overriding it, scaled by ``magnitude``.

        Raises:
            ValueError: An unknown preset (the message lists them), a value out of its range.
        """
        if preset not in PRESETS:
            raise ValueError(f"augment must be one of {', '.join(PRESETS)}, got {preset!r}")
        check_magnitude(magnitude)
        values = dict(PRESETS[preset])
        for name, value in (fields or {}).items():
            if name in AUGMENT_FIELDS and value is not None:
                check_augment_field(name, value)
                values[name] = float(value)
        scaled = {name: v if name in UNSCALED else v * magnitude for name, v in values.items()}
        return cls(**{name.removeprefix("aug_"): v for name, v in scaled.items()})
