"""Fuzz tests need hypothesis (tools/fuzz.sh installs it); without it they are skipped."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(HERE)  # appended: tests/conftest.py must stay `conftest`
sys.path.append(os.path.join(os.path.dirname(HERE), "safety"))

collect_ignore_glob = []
try:
    import hypothesis  # noqa: F401
except ImportError:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session", autouse=True)
def fuzz_figures():
    yield
    if "fuzzlib" not in sys.modules:
        return
    import fuzzlib
    import safetylib
    if not fuzzlib.COUNTS or "GUESTPREP_FUZZ_EXAMPLES" not in os.environ:
        return   # figures only from the real job (tools/fuzz.sh), not from a quick unit run
    # one file per process: tools/fuzz.sh runs pytest-xdist workers, safety_report.py adds them up
    safetylib.record("fuzz-" + os.environ.get("PYTEST_XDIST_WORKER", "main"), {
        "examples_per_target": fuzzlib.EXAMPLES,
        "inputs": sum(fuzzlib.COUNTS.values()),
        "by_target": dict(fuzzlib.COUNTS),
        "documented_value_errors": dict(fuzzlib.EXPECTED),
        "findings": dict((k, v[:20]) for k, v in fuzzlib.FINDINGS.items()),
    })
