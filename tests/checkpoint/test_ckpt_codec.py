"""Plain data through JSON + npz without pickle, exactly."""

from __future__ import annotations

import io
import json
import math
import random

import ml_dtypes
import numpy as np
import pytest

from trainctl.checkpoint.codec import SKIP, Unsupported, copy_plain, decode, encode


def round_trip(value):
    doc, arrays = encode(value)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        return decode(json.loads(json.dumps(doc)), {k: npz[k] for k in npz.files})


def test_random_generator_states_round_trip_and_restore():
    rng = np.random.RandomState(3)
    rng.standard_normal()  # sets the cached gaussian part of the state
    python = random.Random(3)
    numpy_state, python_state = round_trip((rng.get_state(), python.getstate()))
    expected = rng.standard_normal(5)
    restored = np.random.RandomState()
    restored.set_state(numpy_state)
    python_copy = random.Random()
    python_copy.setstate(python_state)
    assert restored.standard_normal(5).tolist() == expected.tolist()
    assert python_copy.random() == python.random()


def test_types_that_json_would_lose_come_back():
    value = {
        "tuple": (1, (2.5, "x")),
        "int_keys": {5: 2.0, (1, 2): None},
        "marker_key": {"__tuple__": [1]},
        "f32": np.float32(0.1),
        "i64": np.int64(2**40),
        "bool": np.bool_(True),
        "bf16": np.arange(4).astype(ml_dtypes.bfloat16),
        "bf16_scalar": ml_dtypes.bfloat16(1.5),
        "big": 2**80,
        "floats": [0.1, -0.0, math.inf],
        "empty": np.zeros((0, 3), "float16"),
    }
    back = round_trip(value)
    assert back["tuple"] == (1, (2.5, "x")) and type(back["tuple"][1]) is tuple
    assert back["int_keys"] == {5: 2.0, (1, 2): None}
    assert back["marker_key"] == {"__tuple__": [1]}
    for key in ("f32", "i64", "bool", "bf16_scalar"):
        assert type(back[key]) is type(value[key]) and back[key] == value[key], key
    assert back["bf16"].dtype == ml_dtypes.bfloat16 and back["bf16"].tolist() == value["bf16"].tolist()
    assert back["big"] == 2**80 and back["floats"] == [0.1, -0.0, math.inf]
    assert math.copysign(1, back["floats"][1]) == -1
    assert back["empty"].shape == (0, 3) and back["empty"].dtype == np.float16
    assert math.isnan(round_trip(math.nan))


@pytest.mark.parametrize("value", [print, np.array([object()]), {"a": [1, object()]}, {1.5j}, "x".encode()])
def test_values_that_are_not_plain_data_are_refused(value):
    with pytest.raises(Unsupported):
        encode(value)
    with pytest.raises(Unsupported):
        copy_plain(value)
    assert copy_plain(value, strict=False) is SKIP


def test_copy_plain_copies_deeply():
    inner = np.zeros(2)
    value = {"a": [inner]}
    copy = copy_plain(value)
    inner[0] = 1
    value["a"].append(3)
    assert copy == {"a": [copy["a"][0]]} and copy["a"][0].tolist() == [0, 0]
