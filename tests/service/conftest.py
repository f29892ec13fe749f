"""Browser tests keep a screenshot and the browser's console log of each failure, in test-artifacts/browser/
(FACEPRINT_TEST_ARTIFACTS to put them elsewhere)."""

from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
