"""The torch modules' tests run on one intra-op thread (two cores are shared with other test runs)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield
