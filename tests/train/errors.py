"""The one-line error a bad training setting gives, as the train tests read it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raycxr.train import TrainConfig


def config_error(**settings: object) -> str:
    """``field: message`` of the single validation error ``TrainConfig(**settings)`` raises (one line)."""
    with pytest.raises(ValidationError) as caught:
        TrainConfig(**settings)
    (item,) = caught.value.errors()
    assert "\n" not in item["msg"]
    return f"{'.'.join(map(str, item['loc']))}: {item['msg']}"
