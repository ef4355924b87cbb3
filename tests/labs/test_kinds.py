from __future__ import annotations

import pytest

from apps.core.errors import ApplicationError, NotFound
from apps.labs import kinds


def test_registry_has_the_three_kinds_each_self_contained():
    slugs = [k.slug for k in kinds.all_kinds()]
    assert slugs[:2] == ["spam-classifier", "char-gpt"] and "custom-script" in slugs
    for kind in kinds.all_kinds():
        assert (kind.folder / "__init__.py").is_file()
        assert kind.about_template is not None, kind.slug
        assert kind.estimated_minutes > 0 and kind.limits["wall_seconds"] > 0
        for spec in kind.schema_json():
            assert {"name", "type", "label", "default"} <= spec.keys()
            assert spec["type"] in kinds.PARAM_TYPES
        # Every default is valid under its own schema (registry-backed model/dataset defaults need
        # the registry's rows: each such kind's own tests check them with tests/registry/fixtures.py).
        plain = [spec for spec in kind.schema_json() if spec["type"] not in ("model", "dataset")]
        assert kinds.params_clean(plain, {}) == {spec["name"]: spec["default"] for spec in plain}
    spam = kinds.get_kind("spam-classifier")
    assert spam.runner == "spam_classifier" and spam.targets[0].metric == "accuracy"
    with pytest.raises(NotFound):
        kinds.get_kind("nope")


SCHEMA = kinds.get_kind("spam-classifier").schema_json()


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"max_features": 5}, "params.max_features", ["between 10 and 200000", "got 5"]),
        ({"C": "lots"}, "params.C", ["(C)", "between 0.01 and 1000"]),
        ({"ngram_max": 7}, "params.ngram_max", ["one of 1, 2, 3"]),
        ({"max_features": 10.5}, "params.max_features", ["whole number"]),
        ({"test_size": float("nan")}, "params.test_size", ["between 0.1 and 0.5"]),
        ({"colour": "red"}, "params.colour", ["Unknown parameter 'colour'", "max_features"]),
        ({"seed": True}, "params.seed", ["whole number"]),
        # Integers beyond what a float holds are out of range, not a crash.
        ({"seed": 10**400}, "params.seed", ["whole number", "got that value"]),
        ({"max_features": -(10**400)}, "params.max_features", ["between 10 and 200000"]),
        ({"C": 10**309}, "params.C", ["between 0.01 and 1000"]),
        # True == 1 in Python, but a boolean is not the choice 1.
        ({"ngram_max": True}, "params.ngram_max", ["one of 1, 2, 3"]),
        # Text that float() would take but nobody means as a number.
        ({"seed": "1_000"}, "params.seed", ["whole number"]),
        ({"C": "infinity"}, "params.C", ["between 0.01 and 1000"]),
        ({"C": "nan"}, "params.C", ["between 0.01 and 1000"]),
        ({"C": [2]}, "params.C", ["between 0.01 and 1000"]),
        ({"C": None}, "params.C", ["between 0.01 and 1000"]),
    ],
)
def test_params_outside_the_schema_name_the_field_and_the_range(params, field, words):
    with pytest.raises(ApplicationError) as info:
        kinds.params_clean(SCHEMA, params)
    assert info.value.field == field
    for word in words:
        assert word in info.value.message
    name = field.removeprefix("params.")
    assert info.value.message.count(f"({name})") <= 1, "the label names its parameter once"


def test_numbers_written_as_text_are_read_as_a_form_sends_them():
    cleaned = kinds.params_clean(SCHEMA, {"max_features": " 300 ", "C": "1e1", "test_size": ".2", "seed": "+7"})
    assert cleaned["max_features"] == 300 and cleaned["C"] == 10.0 and cleaned["test_size"] == 0.2
    assert cleaned["seed"] == 7


def test_params_are_coerced_and_completed_with_defaults():
    cleaned = kinds.params_clean(SCHEMA, {"max_features": "300", "C": "2.5", "ngram_max": "1"})
    assert cleaned == {"max_features": 300, "ngram_max": 1, "C": 2.5, "test_size": 0.25, "seed": 0}
    assert isinstance(cleaned["max_features"], int)


def test_code_params_become_input_files_not_params():
    schema = kinds.get_kind("custom-script").schema_json()
    cleaned = kinds.params_clean(schema, {"code": "print('hi')"})
    runner_params, files = kinds.input_files(schema, cleaned)
    assert runner_params == {} and files == {"main.py": b"print('hi')"}
    with pytest.raises(ApplicationError, match="limit is 20000"):
        kinds.params_clean(schema, {"code": "x" * 20001})


def test_grade_per_target_and_overall():
    targets = [{"metric": "accuracy", "op": ">=", "value": 0.95, "label": "acc"},
               {"metric": "loss", "op": "<=", "value": 1.0, "label": "loss"}]
    result = kinds.grade(targets, {"accuracy": 0.97, "loss": 1.5})
    assert [t["passed"] for t in result["targets"]] == [True, False] and result["passed"] is False
    assert kinds.grade(targets, {"accuracy": 0.95, "loss": 0.2})["passed"] is True
    missing = kinds.grade(targets, {"accuracy": "high"})
    assert missing["passed"] is False and missing["targets"][0]["actual"] is None
    assert kinds.grade([], {"x": 1})["passed"] is None


def test_each_kind_names_its_runner_module_and_the_file_exists():
    for kind in kinds.all_kinds():
        path = kind.runner_file()
        assert path is not None and path.is_file(), kind.slug
        assert kind.runner_module == f"{kinds.RUNNERS_PACKAGE}.{kind.runner}"
        assert path.stem == kind.runner and path.parent.name == "runners"
    assert kinds.get_kind("custom-script").failure_wording == "Error in your code"
    assert kinds.get_kind("spam-classifier").failure_wording != "Error in your code"


def test_char_gpt_offers_threads_within_what_its_runner_accepts():
    from gpu_workers.runners import char_gpt

    spec = {p["name"]: p for p in kinds.get_kind("char-gpt").schema_json()}["threads"]
    low, high = char_gpt.LIMITS["threads"]
    assert spec["type"] == "int" and low <= spec["min"] <= spec["default"] <= spec["max"] <= high
    assert char_gpt._params({"threads": spec["max"]})["threads"] == spec["max"]
    with pytest.raises(ApplicationError):
        kinds.params_clean(kinds.get_kind("char-gpt").schema_json(), {"threads": spec["max"] + 1})


def test_preflight_sees_no_registry_entries_for_a_schema_without_model_or_dataset_params():
    schema = kinds.get_kind("char-gpt").schema_json()
    assert kinds.resolve_for_preflight(schema, kinds.params_clean(schema, {})) == {}
