"""Load the question bank from content/quiz/questions.yaml (see content/FORMAT.md).

``quiz_load(content_dir)`` runs from ``load_content`` after the curriculum loader (questions
link to roadmap topics). Like the other loaders it validates the whole file first - a bad
entry names the file and line and nothing is written - then upserts by slug in one
transaction. A question whose entry did not change (``source_hash``) is not rewritten; one
whose grading material changed gets ``grading_version + 1`` so attempts keep the version
they were graded against. A question that leaves the file is deleted when nobody answered
it, and kept otherwise (attempts and schedules point at it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.db import transaction

from apps.core.errors import ApplicationError
from apps.core.search import services as search_services
from apps.curriculum.loader import F, LineDict, _check_choice, _check_item, _Errors, _label, _read_yaml
from apps.curriculum.markdown import body_problems
from apps.curriculum.models import Phase, Topic
from apps.quiz.models import Category, Difficulty, Question

FILE = Path("quiz") / "questions.yaml"
MAX_KEY_POINTS = 12
MAX_TESTS = 20
MAX_WEIGHT = 10

QUESTION_SPEC = {
    "slug": F("slug"),
    "category": F("str"),
    "difficulty": F("str"),
    "topics": F("slugs", required=False, default=list),
    "phase": F("int?", required=False),
    "question": F("text"),
    "model_answer": F("text"),
    "key_points": F("list", required=False, default=list),
    "choices": F("list", required=False, default=list),
    "rubric": F("strs", required=False, default=list),
    "starter_code": F("text", required=False, default=""),
    "tests": F("list", required=False, default=list),
    "solution": F("text", required=False, default=""),
    # A deliberately wrong solution: never shown, used by the test suite to prove the hidden
    # tests catch a mistake.
    "broken_solution": F("text", required=False, default=""),
}
GRADING_KEYS = ("key_points", "choices", "rubric", "tests", "model_answer")


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _key_points(errors: _Errors, label: str, raw: LineDict, value: list, what: str) -> list[dict]:
    points = []
    for item in value:
        if isinstance(item, str) and item.strip():
            points.append({"text": item.strip(), "weight": 1.0})
        elif isinstance(item, dict) and isinstance(item.get("point"), str) and item["point"].strip():
            weight = item.get("weight", 1)
            if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 < weight <= MAX_WEIGHT:
                errors.add(label, raw.line_of("key_points"), f"{what}: a key point weight must be in (0, {MAX_WEIGHT}]")
                continue
            points.append({"text": item["point"].strip(), "weight": float(weight)})
        else:
            errors.add(label, raw.line_of("key_points"), f"{what}: each key point is a text or {{point, weight}}")
    if len(points) > MAX_KEY_POINTS:
        errors.add(label, raw.line_of("key_points"), f"{what}: at most {MAX_KEY_POINTS} key points")
    return points


def _choices(errors: _Errors, label: str, raw: LineDict, value: list, what: str) -> list[dict]:
    choices = []
    for item in value:
        if not (isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip()
                and isinstance(item.get("correct", False), bool) and set(item) <= {"text", "correct"}):
            errors.add(label, raw.line_of("choices"), f"{what}: each choice is {{text, correct: true|false}}")
            continue
        choices.append({"text": item["text"].strip(), "correct": bool(item.get("correct", False))})
    if choices and sum(c["correct"] for c in choices) != 1:
        errors.add(label, raw.line_of("choices"), f"{what}: exactly one choice must be correct")
    if choices and len(choices) < 2:
        errors.add(label, raw.line_of("choices"), f"{what}: give at least two choices")
    return choices


def _tests(errors: _Errors, label: str, raw: LineDict, value: list, what: str) -> list[dict]:
    tests, names = [], set()
    for item in value:
        if not (isinstance(item, dict) and set(item) == {"name", "code"}
                and all(isinstance(item[k], str) and item[k].strip() for k in ("name", "code"))):
            errors.add(label, raw.line_of("tests"), f"{what}: each test is {{name, code}}")
            continue
        if item["name"] in names:
            errors.add(label, raw.line_of("tests"), f"{what}: test name {item['name']!r} appears twice")
        names.add(item["name"])
        try:
            compile(item["code"], item["name"], "exec")
        except SyntaxError as exc:
            errors.add(label, raw.line_of("tests"), f"{what}: test {item['name']!r} is not valid Python ({exc.msg})")
        tests.append({"name": item["name"].strip(), "code": item["code"]})
    if len(tests) > MAX_TESTS:
        errors.add(label, raw.line_of("tests"), f"{what}: at most {MAX_TESTS} tests")
    return tests


def _validate(content_dir: Path) -> list[dict[str, Any]]:
    errors = _Errors()
    path = content_dir / FILE
    label = _label(path, content_dir)
    if not path.is_file():
        errors.add(label, None, "file is missing")
        errors.raise_if_any()
    data = _read_yaml(path, label, errors)
    if data is not None and not isinstance(data, list):
        errors.add(label, None, "must be a list of questions")
        data = []
    topic_phase = dict(Topic.objects.values_list("slug", "phase__number"))
    phases = set(Phase.objects.values_list("number", flat=True))
    seen: set[str] = set()
    out = []
    for raw in data or []:
        q = _check_item(errors, label, raw, QUESTION_SPEC, "question")
        if q is None:
            continue
        what = f"question {q['slug']!r}"
        if q["slug"] in seen:
            errors.add(label, raw.line_of("slug"), f"question slug {q['slug']!r} appears twice")
        seen.add(q["slug"])
        _check_choice(errors, label, raw, "category", q["category"], Category.values, what)
        _check_choice(errors, label, raw, "difficulty", q["difficulty"], Difficulty.values, what)
        for slug in q["topics"]:
            if slug not in topic_phase:
                errors.add(label, raw.line_of("topics"), f"{what}: topic {slug!r} is not a roadmap topic")
        if q["phase"] is None:
            known = [topic_phase[s] for s in q["topics"] if s in topic_phase]
            if known:
                q["phase"] = known[0]
            else:
                errors.add(label, raw.line, f"{what}: give 'phase' (0-5) or at least one topic")
        elif q["phase"] not in phases:
            errors.add(label, raw.line_of("phase"), f"{what}: phase {q['phase']} is not a roadmap phase")
        for key in ("question", "model_answer"):
            if not q[key].strip():
                errors.add(label, raw.line_of(key), f"{what}: {key!r} must not be empty")
            for problem in body_problems(q[key]):
                errors.add(label, raw.line_of(key), f"{what}: {key}: {problem}")
        for key in ("key_points", "choices", "tests"):
            if not isinstance(q[key], list):
                errors.add(label, raw.line_of(key), f"{what}: {key!r} must be a list")
                q[key] = []
        q["key_points"] = _key_points(errors, label, raw, q["key_points"], what)
        q["choices"] = _choices(errors, label, raw, q["choices"], what)
        q["tests"] = _tests(errors, label, raw, q["tests"], what)
        if not q["key_points"] and not q["choices"] and not q["tests"]:
            errors.add(label, raw.line, f"{what}: give key_points, choices or tests: there is nothing to grade")
        if q["category"] == Category.CODING:
            # Coding answers are graded by running them, never on their text: the bank's
            # test suite runs each reference and broken solution against the hidden tests.
            if not q["tests"]:
                errors.add(label, raw.line, f"{what}: a coding question needs hidden 'tests' to run the answer against")
            for key in ("solution", "broken_solution"):
                if not q[key].strip():
                    errors.add(label, raw.line, f"{what}: a coding question needs a {key!r}")
        elif q["tests"]:
            errors.add(label, raw.line_of("tests"), f"{what}: only coding questions have tests")
        q["line"] = raw.line
        out.append(q)
    errors.raise_if_any()
    return out


def _write(questions: list[dict[str, Any]]) -> tuple[int, list[str]]:
    topics = {t.slug: t for t in Topic.objects.all()}
    changed: list[str] = []
    for pos, q in enumerate(questions):
        fields = {
            "category": q["category"],
            "difficulty": q["difficulty"],
            "phase": q["phase"],
            "prompt": q["question"].strip(),
            "model_answer": q["model_answer"],
            "key_points": q["key_points"],
            "choices": q["choices"],
            "rubric": q["rubric"],
            "starter_code": q["starter_code"],
            "tests": q["tests"],
            "solution": q["solution"],
            "position": pos,
        }
        digest = _hash([fields, q["topics"]])
        grading = _hash({k: fields[k] for k in GRADING_KEYS})
        row = Question.objects.filter(slug=q["slug"]).first()
        if row is not None and row.source_hash == digest:
            continue
        if row is None:
            row = Question(slug=q["slug"], grading_hash=grading)
        elif row.grading_hash != grading:
            row.grading_version += 1
            row.grading_hash = grading
        for key, value in fields.items():
            setattr(row, key, value)
        row.source_hash = digest
        row.save()
        row.topics.set([topics[s] for s in q["topics"]])
        changed.append(row.slug)
    # Questions gone from the file: removed unless someone answered them (their attempts
    # and schedules stay meaningful); those stay, out of the file's order.
    gone = Question.objects.exclude(slug__in=[q["slug"] for q in questions])
    removable = gone.filter(attempts__isnull=True)
    removed = list(removable.values_list("slug", flat=True))
    removable.delete()
    return len(changed) + len(removed), changed + removed


def quiz_load(content_dir: Path) -> str:
    """Validate and load content/quiz/questions.yaml; returns a one-line summary.

    Raises ``ApplicationError`` naming file and line, before writing anything, when the file
    is wrong.
    """
    content_dir = Path(content_dir)
    if not content_dir.is_dir():
        raise ApplicationError(f"content folder {content_dir} does not exist")
    questions = _validate(content_dir)
    with transaction.atomic():
        count, keys = _write(questions)
        if keys:
            search_services.search_index_schedule("question", keys)
    return f"quiz: {len(questions)} questions ({count} changed)"
