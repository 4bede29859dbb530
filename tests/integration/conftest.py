"""Integration tier: many threads or processes against one real store (file, S3 on a moto server).

Every test here is marked ``slow``: `pytest -m "not slow"` gives a quick inner loop; CI runs everything.
"""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.slow)
