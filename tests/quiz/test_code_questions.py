"""Every coding question of the bank, in the real sandbox (the configured labs backend): its
reference solution passes every hidden test and its deliberately broken solution fails at least
one; none is graded on its text. Also: endless loops and output floods end at the sandbox limits
with a readable result."""

from __future__ import annotations

import pytest
import yaml

from apps.quiz.code_runner import run_tests
from tests.quiz.conftest import CONTENT

pytestmark = pytest.mark.sandbox

CODING = [q for q in yaml.safe_load((CONTENT / "quiz" / "questions.yaml").read_text()) if q["category"] == "coding"]


def test_every_coding_question_is_graded_by_running_it():
    assert len(CODING) >= 9
    for q in CODING:
        assert q.get("tests") and q.get("solution") and q.get("broken_solution"), q["slug"]
    # The guide's two RAG coding questions run like the rest.
    assert {"rag-pipeline-from-scratch", "evaluate-rag-system"} <= {q["slug"] for q in CODING}


@pytest.mark.parametrize("question", CODING, ids=[q["slug"] for q in CODING])
def test_reference_passes_and_broken_fails(question):
    good = run_tests(question["solution"], question["tests"])
    assert good["exit"]["reason"] == "succeeded", good
    assert good["passed"] == good["total"] == len(question["tests"]), good["tests"]
    bad = run_tests(question["broken_solution"], question["tests"])
    assert bad["passed"] < bad["total"], bad["tests"]
    failing = [t for t in bad["tests"] if not t["passed"]]
    assert all(t["error"] for t in failing)


TESTS = next(q for q in CODING if q["slug"] == "stable-softmax-numpy")["tests"]


def test_endless_loop_in_a_test_times_out_readably(settings):
    settings.QUIZ_CODE_TEST_SECONDS = 1
    out = run_tests("def softmax(x):\n    while True:\n        pass\n", TESTS)
    assert out["passed"] == 0
    assert all("Timed out after 1 s" in t["error"] for t in out["tests"])


def test_output_flood_is_capped():
    out = run_tests("def softmax(x):\n    print('x' * 10_000_000)\n    return None\n", TESTS)
    assert out["passed"] == 0
    assert all(len(t["output"]) < 2_100 and t["output"].endswith("(output cut)") for t in out["tests"])


def test_run_past_the_wall_limit_reports_the_limit(settings):
    settings.QUIZ_CODE_WALL_SECONDS = 3
    settings.QUIZ_CODE_TEST_SECONDS = 60
    out = run_tests("import time\nwhile True:\n    time.sleep(0.1)\n", TESTS)
    assert out["exit"]["reason"] == "timed_out"
    assert all("3 s limit" in t["error"] for t in out["tests"])


def test_sandbox_has_no_network():
    code = (
        "import socket\n"
        "def softmax(x):\n"
        "    socket.create_connection(('127.0.0.1', 5432), timeout=1)\n"
    )
    out = run_tests(code, TESTS[:1])
    assert out["passed"] == 0
    assert "Error" in out["tests"][0]["error"]


def test_flood_on_the_raw_stdout_still_reports_the_tests():
    code = (
        "import os, sys\n"
        "for _ in range(2000):\n"
        "    os.write(1, b'y' * 1000 + b'\\n')\n"
        "    sys.stderr.write('z' * 1000 + '\\n')\n"
        "def softmax(x):\n"
        "    return None\n"
    )
    out = run_tests(code, TESTS)
    assert out["total"] == len(TESTS) and out["passed"] == 0
    assert all(t["error"] for t in out["tests"])
    # The error names the learner's mistake, not the harness.
    assert "main.py" not in out["tests"][0]["error"]
    assert "AttributeError: 'NoneType' object has no attribute 'shape'" in out["tests"][0]["error"]
