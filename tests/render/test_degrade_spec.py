"""DegradeSpec: JSON round trip, presets, validation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from render.degrade import DEGRADE_PRESETS, DegradeSpec, random_degrade_spec


def test_presets_have_the_agreed_names():
    assert set(DEGRADE_PRESETS) == {"none", "scan", "photo", "photo-page", "photo-table", "fax", "photocopy",
                                    "phone-bad"}
    assert DEGRADE_PRESETS["none"].enabled() == []


@pytest.mark.parametrize("spec", list(DEGRADE_PRESETS.values())
                         + [random_degrade_spec(np.random.default_rng(s)) for s in range(10)])
def test_json_round_trip(spec):
    assert DegradeSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_validation_names_the_problem():
    with pytest.raises(ValueError, match="unknown keys"):
        DegradeSpec.from_dict({"rotaton": {"max_deg": 2}})
    with pytest.raises(ValueError, match="unknown rotation keys"):
        DegradeSpec.from_dict({"rotation": {"degrees": 2}})
    with pytest.raises(ValueError, match="background"):
        DegradeSpec(background="beach")
    with pytest.raises(ValueError, match="BlurSpec.kinds"):
        DegradeSpec.from_dict({"blur": {"kinds": ["gaussian", "tilt"]}})
    with pytest.raises(ValueError, match="mode"):
        DegradeSpec.from_dict({"black_white": {"mode": "sepia"}})
    with pytest.raises(ValueError, match="FramingSpec.mode"):
        DegradeSpec.from_dict({"framing": {"mode": "wide"}})


def test_specs_without_the_later_effects_keep_their_version_1_dict():
    old = DEGRADE_PRESETS["photo-table"].to_dict()
    assert not {"framing", "ripple", "camera"} & set(old)
    assert "camera" in DEGRADE_PRESETS["scan"].to_dict()
