"""The lab kinds registry: one folder per kind, each a self-contained plugin.

``apps/labs/kinds/<name>/__init__.py`` defines ``KIND = LabKind(...)``: the runner it
starts in the sandbox, its parameter schema (types, ranges, defaults, help text), sandbox
limits, grading targets, queue and time estimate. ``about.html`` next to it says what the
lab teaches (a Django template, rendered on the catalogue and launch pages).
``lab_catalog_sync`` (run by ``load_content``) turns every kind into a ``Lab`` row.
Schemas are stored on the row as plain JSON, so validation and grading below work on
JSON (what an admin may have tuned), not on these dataclasses. This schema is the only
set of rules for parameters: the launch form renders it and ``lab_job_submit`` checks it
(:func:`params_clean`) for the form and the API alike.

Adding a kind, the whole checklist (no code outside these places changes):

1. Runner: ``gpu_workers/runners/<runner>.py`` with ``run(spec, emitter)`` (see
   ``protocol.py`` and ``char_gpt.py``). No Django; it reads ``spec["params"]``, writes only
   in its work dir, reports through the emitter (progress, metric, log, artifact, result)
   and records in its result the library versions, device, runner version and seed. Its
   imports go in ``gpu_workers/runners/requirements.txt`` (the sandbox images install it).
2. Folder ``apps/labs/kinds/<slug_with_underscores>/`` with ``__init__.py`` defining
   ``KIND = LabKind(slug=..., runner="<runner>", ...)``: ``params`` (:class:`Param`, with
   ranges, defaults and help), ``limits`` (:class:`~apps.labs.sandbox.SandboxLimits` fields),
   ``targets`` (:class:`Target`, for grading), ``queue`` ("cpu" or "gpu"),
   ``estimated_minutes`` (charged to the quota at submit), ``milestone_slug`` (its roadmap
   topic), ``chart_metrics``/``key_metrics``, and where they apply:
   - ``warm_imports``: slow imports a warm sandbox does ahead of the job (then add the kind
     to ``LABS_WARM_POOL`` where it should be kept warm);
   - ``failure_wording``: how a runner error opens ("Error in your code" for learner code);
   - ``preflight(params, resolved)``: refuse before queueing what cannot run (raise
     ``ApplicationError`` with the estimate, e.g. a model that would not fit in memory);
     ``resolved`` holds the registry entries of its model/dataset params
     (:func:`resolve_for_preflight`).
3. ``about.html`` in the folder: what the lab teaches, in a learner's words.
4. ``python manage.py load_content`` (or ``make run``) creates the ``Lab`` row.
5. Tests: the runner at a tiny size (``run()`` with a recording emitter), the kind's
   defaults valid under its schema and its preflight refusing (tests/labs/test_kinds.py
   checks every kind's runner file, defaults and about page), and one end-to-end run
   through the real worker and bubblewrap sandbox (``pytest.mark.sandbox``, see
   tests/labs/test_e2e.py); GPU-only tests skip with a reason without CUDA.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import pkgutil
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.template import Template, engines

from apps.core.errors import ApplicationError, NotFound

PARAM_TYPES = ("int", "float", "choice", "bool", "code", "model", "dataset")
TARGET_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}
#: The package whose modules are runners: ``python -m gpu_workers.runners <LabKind.runner>``
#: runs ``gpu_workers/runners/<runner>.py`` in the sandbox (gpu_workers/runners/protocol.py).
RUNNERS_PACKAGE = "gpu_workers.runners"


@dataclass(frozen=True)
class Param:
    """One launch parameter. ``file`` (for ``code``) writes the value to that input file
    in the sandbox's work dir instead of passing it in ``params``.

    ``model``/``dataset`` params hold the slug of a ready registry entry of ``registry_kind``
    (apps/registry), e.g. ``Param("model", "model", "Model", "zth-gpt2-small",
    registry_kind="causal-lm")``; the runner gets ``{"slug", "kind", "path", "meta"}``."""

    name: str
    type: str
    label: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    max_length: int | None = None
    file: str | None = None
    registry_kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v not in (None, (), "")}
        if self.choices:
            data["choices"] = list(self.choices)
        data["default"] = self.default
        return data


@dataclass(frozen=True)
class Target:
    """A grading target: ``metric op value`` must hold for the job to pass."""

    metric: str
    op: str
    value: float
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "value": self.value, "label": self.label}


@dataclass(frozen=True)
class LabKind:
    """One lab kind; see the package docstring for the checklist of adding one."""

    slug: str
    #: The runner module's name in :data:`RUNNERS_PACKAGE` (``"char_gpt"`` runs
    #: ``gpu_workers/runners/char_gpt.py``); the sandbox starts it by this name.
    runner: str
    title: str
    summary: str
    params: tuple[Param, ...]
    limits: dict[str, int]
    targets: tuple[Target, ...] = ()
    queue: str = "cpu"
    estimated_minutes: float = 1.0
    milestone_slug: str = ""
    position: int = 100
    #: Metrics drawn live as a line chart against ``step`` (e.g. loss); others are shown at the end.
    chart_metrics: tuple[str, ...] = ()
    #: Metrics shown in the job history table.
    key_metrics: tuple[str, ...] = ()
    #: Modules a warm sandbox imports before its job arrives (``LABS_WARM_POOL``,
    #: apps/labs/sandbox/pool.py), e.g. ``("torch",)``: what makes this lab slow to start.
    warm_imports: tuple[str, ...] = ()
    #: How a failed job's reason starts when the runner itself stopped with an error
    #: ("Error in your code" where the learner wrote the code).
    failure_wording: str = "The lab program stopped with an error"
    #: Called by ``lab_job_submit`` before anything is queued, with the cleaned params and
    #: the resolved registry entries of its model/dataset params (see :func:`resolve_for_preflight`).
    #: Raise ``ApplicationError`` (message with the estimate) to refuse, e.g. a model that
    #: would not fit in memory: the learner gets a 400 and no job row is written.
    preflight: Callable[[dict[str, Any], dict[str, Any]], None] | None = field(default=None, compare=False)
    folder: Path = field(default=Path(), compare=False)

    def schema_json(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def targets_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.targets]

    @property
    def about_template(self) -> Template | None:
        return _about_template(self.slug)

    @property
    def runner_module(self) -> str:
        return f"{RUNNERS_PACKAGE}.{self.runner}"

    def runner_file(self) -> Path | None:
        """The runner's source file (found without importing it: runners are sandbox code), or None."""
        try:
            spec = importlib.util.find_spec(self.runner_module)
        except ImportError:
            return None
        return Path(spec.origin) if spec is not None and spec.origin else None


@cache
def _registry() -> dict[str, LabKind]:
    kinds: dict[str, LabKind] = {}
    for module in pkgutil.iter_modules(__path__):
        if not module.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{module.name}")
        kind: LabKind = package.KIND
        object.__setattr__(kind, "folder", Path(package.__file__).parent)
        if kind.slug in kinds:
            raise RuntimeError(f"Two lab kinds use the slug {kind.slug!r}")
        kinds[kind.slug] = kind
    return dict(sorted(kinds.items(), key=lambda item: (item[1].position, item[0])))


def all_kinds() -> list[LabKind]:
    return list(_registry().values())


def get_kind(slug: str) -> LabKind:
    try:
        return _registry()[slug]
    except KeyError:
        raise NotFound(f"There is no lab kind called {slug!r}.") from None


def resolve_for_preflight(schema: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Registry entries a preflight hook sees, by parameter name (``{}`` while there are none).

    This is where the model/dataset registry plugs in: each ``model``/``dataset`` param's slug
    becomes its entry (``{"slug", "kind", "path", "meta"}``) through
    ``apps.registry.services.registry_params_resolve`` (the one execute uses), so a hook can
    size the model. Labs without such params get ``{}``.
    """
    names = [spec["name"] for spec in schema if spec.get("type") in ("model", "dataset") and spec["name"] in params]
    if not names:
        return {}
    from apps.registry.services import registry_params_resolve  # imports models: not at kinds import time

    resolved = registry_params_resolve(schema, {name: params[name] for name in names})
    return {name: resolved[name] for name in names if isinstance(resolved.get(name), dict)}


@cache
def _about_template(slug: str) -> Template | None:
    path = get_kind(slug).folder / "about.html"
    if not path.is_file():
        return None
    return engines["django"].from_string(path.read_text())


# --- validation and grading on the stored JSON -------------------------------------------


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:g}"


def param_range_text(spec: dict[str, Any]) -> str:
    """'between 10 and 200000', 'one of 1, 2, 3', 'up to 20000 characters' - for messages and the form."""
    kind = spec.get("type")
    if kind == "choice":
        return "one of " + ", ".join(str(c) for c in spec.get("choices", []))
    if kind == "bool":
        return "true or false"
    if kind == "code":
        return f"up to {spec.get('max_length', 20000)} characters"
    if kind in ("model", "dataset"):
        slugs = [slug for slug, _title in registry_choices(spec)]
        if not slugs:
            return f"a ready {kind} from the registry (none is ready yet)"
        return f"one of the ready {kind}s: " + ", ".join(slugs)
    low, high = spec.get("min"), spec.get("max")
    noun = "a whole number" if kind == "int" else "a number"
    if low is not None and high is not None:
        return f"{noun} between {_number_text(low)} and {_number_text(high)}"
    if low is not None:
        return f"{noun} of at least {_number_text(low)}"
    if high is not None:
        return f"{noun} of at most {_number_text(high)}"
    return noun


def registry_choices(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(slug, title) of the ready registry entries a ``model``/``dataset`` param may name."""
    from apps.registry.selectors import registry_ready_choices

    return registry_ready_choices(spec["type"], spec.get("registry_kind"))


def registry_inputs_missing(schema: list[dict[str, Any]]) -> list[str]:
    """Labels of the ``model``/``dataset`` params no ready registry entry can fill yet: the lab
    cannot be launched until there is one (the model is still being built, say)."""
    return [
        spec.get("label") or spec["name"]
        for spec in schema
        if spec.get("type") in ("model", "dataset") and not registry_choices(spec)
    ]


def params_clean(schema: list[dict[str, Any]], params: dict[str, Any] | None) -> dict[str, Any]:
    """Validate ``params`` against a lab's schema; return them complete (defaults filled in).

    Raises ``ApplicationError(field="params.<name>")`` whose message names the parameter and
    its allowed range, so the API answers 400 naming the field and the form marks it.
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ApplicationError("params must be an object of parameter names to values.", field="params")
    known = {spec["name"]: spec for spec in schema}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ApplicationError(
            f"Unknown parameter {unknown[0]!r}; this lab accepts: {', '.join(known) or 'none'}.",
            field=f"params.{unknown[0]}",
        )
    cleaned: dict[str, Any] = {}
    for name, spec in known.items():
        value = params.get(name, spec.get("default"))
        cleaned[name] = _clean_one(name, spec, value)
    return cleaned


def _clean_one(name: str, spec: dict[str, Any], value: Any) -> Any:
    kind = spec.get("type")
    label = spec.get("label") or name
    if f"({name})" not in label:  # "Inverse regularisation (C)" already names its parameter
        label = f"{label} ({name})"
    allowed = param_range_text(spec)

    def bad(got: Any) -> ApplicationError:
        if got is None or got == "":
            return ApplicationError(f"{label} must be {allowed}; nothing was given.", field=f"params.{name}")
        shown = repr(got) if not isinstance(got, str | int) or len(str(got)) < 40 else "that value"
        return ApplicationError(f"{label} must be {allowed}; got {shown}.", field=f"params.{name}")

    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "on", "off", "1", "0"}:
            return value.lower() in {"true", "on", "1"}
        raise bad(value)
    if kind == "choice":
        for choice in spec.get("choices", []):
            if isinstance(value, bool) != isinstance(choice, bool):
                continue  # True == 1 in Python: a boolean is not the choice 1
            if value == choice or str(value) == str(choice):
                return choice
        raise bad(value)
    if kind == "code":
        if not isinstance(value, str):
            raise bad(value)
        if len(value) > int(spec.get("max_length", 20000)):
            raise ApplicationError(
                f"{label} is {len(value)} characters long; the limit is {spec.get('max_length', 20000)}.",
                field=f"params.{name}",
            )
        if "\x00" in value:
            raise ApplicationError(
                f"{label} contains a NUL character (\\x00); remove it and submit again.",
                field=f"params.{name}",
            )
        return value
    if kind in ("int", "float"):
        number = parse_number(value)
        if number is None:
            raise bad(value)
        if kind == "int":
            if number != int(number):
                raise bad(value)
            number = int(number)
        low, high = spec.get("min"), spec.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            raise bad(value)
        return number
    if kind in ("model", "dataset"):
        if isinstance(value, str) and value in {slug for slug, _title in registry_choices(spec)}:
            return value
        raise bad(value)
    raise ApplicationError(
        f"Parameter {name} has an unknown type {kind!r} in the lab's schema.", field=f"params.{name}"
    )


#: A number written as text: what a form field sends. Stricter than float(), which also takes
#: "1_000", "nan" and "infinity".
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_number(value: Any) -> int | float | None:
    """``value`` as a finite number, or None: JSON numbers and numeric text, never a boolean.

    An integer keeps its exact value (10**400 is a number, simply out of every range) rather
    than going through float(), which cannot hold it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER_TEXT.fullmatch(text):
            return None
        value = text
    elif not isinstance(value, float):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def grade(targets: list[dict[str, Any]], metrics: dict[str, Any]) -> dict[str, Any]:
    """Check metrics against targets: ``{"targets": [...each with actual/passed], "passed": bool | None}``.

    ``passed`` is None when the lab has no targets (nothing to grade). A target whose metric
    is missing (or not a number) fails, with ``actual`` None.
    """
    rows = []
    for target in targets:
        actual = metrics.get(target["metric"])
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool) and math.isfinite(actual)
        passed = bool(ok and TARGET_OPS[target.get("op", ">=")](actual, target["value"]))
        rows.append({**target, "actual": actual if ok else None, "passed": passed})
    return {"targets": rows, "passed": all(r["passed"] for r in rows) if rows else None}


def input_files(schema: list[dict[str, Any]], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Split cleaned params into (runner params, input files) by each param's ``file``."""
    runner_params, files = {}, {}
    for spec in schema:
        name = spec["name"]
        if name not in params:
            continue
        if spec.get("file"):
            files[spec["file"]] = str(params[name]).encode()
        else:
            runner_params[name] = params[name]
    return runner_params, files
