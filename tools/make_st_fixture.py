"""Writes tests/fixtures/st_basic.safetensors with tools/st.py (numpy only), the fixture that
tests/test_safetensors.c loads and checks value by value. Rerun after changing it:
    /usr/bin/python3 tools/make_st_fixture.py
Keep the values in sync with the expectations in tests/test_safetensors.c."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "st_basic.safetensors")

tensors = {
    "f32.weight": np.array([[0.1, -2.5, 3.25], [1e-3, 7.0, -0.0]], dtype=np.float32),
    "f64.bias": np.array([0.1, -1.0 / 3.0, 1e300, -2.5e-310], dtype=np.float64),
    "i64.index": np.array([[0, -1], [2**40, -(2**63)]], dtype=np.int64),
    "scalar": np.array(3.5, dtype=np.float64),
    "empty": np.zeros((0, 3), dtype=np.float32),
    'naïve "quoted"\\name': np.array([1.5], dtype=np.float32),
    "i32.small": np.array([-7, 8, 2**31 - 1], dtype=np.int32),
    "f16.half": np.array([1.0, -2.0, 65504.0, 2.0**-24], dtype=np.float16),
}
meta = {"format": "pt", "source": "tools/make_st_fixture.py"}

if __name__ == "__main__":
    st.save(OUT, tensors, metadata=meta)
    back, m = st.load(OUT, with_metadata=True)
    assert m == meta and list(back) == list(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v), k
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")
