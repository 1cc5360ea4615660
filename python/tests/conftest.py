"""Where the real data is (as for the C++ tests): $SPDNN_DATA_DIR, else ../shared/data beside the checkout."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data_dir():
    d = pathlib.Path(os.environ.get("SPDNN_DATA_DIR", REPO.parent / "shared" / "data"))
    if not d.is_dir():
        pytest.skip(f"real data not found at {d} (set SPDNN_DATA_DIR)")
    return d
