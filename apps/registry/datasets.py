"""The registry's shipped datasets, written from the curriculum in ``content/``, and their checks.

Pure Python (no Django), so a runner or a test can validate a dataset folder too.

``lora-instructions`` (kind ``instruction``): ``train.jsonl`` and ``heldout.jsonl``, one JSON
object a line with ``id``, ``instruction``, ``input`` (may be empty) and ``output``.
``rag-curriculum`` (kind ``rag-corpus``): ``docs.jsonl`` (``id``, ``title``, ``text``) and
``questions.jsonl`` (``id``, ``question``, ``reference``, ``reference_contexts`` - passages
copied verbatim from the documents that answer it - and ``doc_ids``).

``dataset_validate`` reads every line and names the file, row (line number) and column
of the first problem: bad UTF-8, a line that is not a JSON object, a missing column, a value
of the wrong type or an empty one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from apps.registry.builders import make_readable, tree_sha256

DATASET_VERSION = "1"


class DatasetError(ValueError):
    """A dataset file that does not match its kind's columns; the message names file, row and column."""

    def __init__(self, message: str, *, file: str = "", row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message, self.file, self.row, self.column = message, file, row, column


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # "text" (non-empty string), "text?" (string, may be empty), "texts" (non-empty list of strings)


INSTRUCTION_COLUMNS = (Column("instruction", "text"), Column("input", "text?"), Column("output", "text"))
SCHEMAS: dict[str, dict[str, tuple[Column, ...]]] = {
    "instruction": {"train.jsonl": INSTRUCTION_COLUMNS, "heldout.jsonl": INSTRUCTION_COLUMNS},
    "rag-corpus": {
        "docs.jsonl": (Column("id", "text"), Column("title", "text"), Column("text", "text")),
        "questions.jsonl": (
            Column("question", "text"),
            Column("reference", "text"),
            Column("reference_contexts", "texts"),
        ),
    },
}
_TYPE_TEXT = {"text": "non-empty text", "text?": "text (may be empty)", "texts": "a non-empty list of texts"}


def _check_value(column: Column, value: Any) -> str | None:
    """What is wrong with ``value`` for ``column``, or None."""
    if column.type in ("text", "text?"):
        if not isinstance(value, str):
            return f"expected {_TYPE_TEXT[column.type]}, got {_json_type(value)}"
        if column.type == "text" and not value.strip():
            return "expected non-empty text, got an empty string"
        return None
    if not isinstance(value, list) or not value:
        return f"expected {_TYPE_TEXT[column.type]}, got {_json_type(value)}"
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            return f"item {i} should be non-empty text, got {_json_type(item)}"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "text"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def jsonl_validate(path: Path, columns: tuple[Column, ...], *, label: str | None = None) -> int:
    """Check every line of a JSONL file against ``columns``; return the row count.

    Rows are numbered from 1 by line. Raises :class:`DatasetError` at the first problem.
    """
    label = label or path.name
    if not path.is_file():
        raise DatasetError(f"{label}: the file is missing.", file=label)
    rows = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(
                    f"{label} row {number}: not UTF-8 text (byte {exc.start} of the line is 0x{raw[exc.start]:02x}); "
                    "save the file as UTF-8.",
                    file=label,
                    row=number,
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"{label} row {number}: not valid JSON ({exc.msg} at character {exc.pos + 1}).",
                    file=label,
                    row=number,
                ) from None
            if not isinstance(record, dict):
                raise DatasetError(
                    f"{label} row {number}: expected a JSON object of columns, got {_json_type(record)}.",
                    file=label,
                    row=number,
                )
            for column in columns:
                if column.name not in record:
                    raise DatasetError(
                        f"{label} row {number}, column '{column.name}': the column is missing "
                        f"(each row needs {', '.join(c.name for c in columns)}).",
                        file=label,
                        row=number,
                        column=column.name,
                    )
                problem = _check_value(column, record[column.name])
                if problem:
                    raise DatasetError(
                        f"{label} row {number}, column '{column.name}': {problem}.",
                        file=label,
                        row=number,
                        column=column.name,
                    )
            rows += 1
    if rows == 0:
        raise DatasetError(f"{label}: the file has no rows.", file=label)
    return rows


def dataset_validate(folder: str | Path, kind: str) -> dict[str, Any]:
    """Validate a dataset folder of ``kind``; return metadata (columns, rows per file)."""
    folder = Path(folder)
    if kind not in SCHEMAS:
        raise DatasetError(f"Unknown dataset kind {kind!r}; known kinds: {', '.join(SCHEMAS)}.")
    if not folder.is_dir():
        raise DatasetError(f"The dataset folder {folder.name!r} does not exist.")
    files = SCHEMAS[kind]
    rows = {
        name: jsonl_validate(folder / name, columns, label=f"{folder.name}/{name}") for name, columns in files.items()
    }
    return {"columns": {name: [c.name for c in columns] for name, columns in files.items()}, "rows": rows}


# --- reading the shipped curriculum ------------------------------------------------------

_FRONT = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.S)


def _articles(content_dir: Path) -> list[dict[str, str]]:
    out = []
    for path in sorted((content_dir / "articles").glob("*.md")):
        match = _FRONT.match(path.read_text(encoding="utf-8"))
        if not match:
            continue
        meta = yaml.safe_load(match.group(1)) or {}
        if meta.get("status", "published") != "published":
            continue
        out.append(
            {
                "id": str(meta.get("slug") or path.stem),
                "title": str(meta.get("title") or path.stem),
                "summary": str(meta.get("summary") or ""),
                "text": match.group(2).strip(),
            }
        )
    return out


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def _glossary(content_dir: Path) -> list[dict[str, Any]]:
    return list(_yaml(content_dir / "glossary.yaml") or [])


def _topics(content_dir: Path) -> list[dict[str, Any]]:
    topics = []
    for path in sorted((content_dir / "roadmap").glob("phase-*.yaml")):
        phase = _yaml(path) or {}
        topics.extend(phase.get("topics") or [])
    return topics


def _quiz(content_dir: Path) -> list[dict[str, Any]]:
    return [q for q in (_yaml(content_dir / "quiz" / "questions.yaml") or []) if q.get("question")]


def _clean(text: str) -> str:
    return re.sub(r"[ \t]+\n", "\n", str(text)).strip()


def curriculum_texts(content_dir: str | Path) -> list[str]:
    """Every shipped text the small LM learns from: articles, glossary, roadmap topics, quiz answers."""
    content_dir = Path(content_dir)
    texts = [f"# {a['title']}\n\n{a['summary']}\n\n{a['text']}" for a in _articles(content_dir)]
    texts += [f"{g['term']}: {_clean(g.get('long') or g.get('short') or '')}" for g in _glossary(content_dir)]
    texts += [f"{t['title']}: {_clean(t.get('summary') or '')}" for t in _topics(content_dir)]
    texts += [
        f"Question: {_clean(q['question'])}\nAnswer: {_clean(q.get('model_answer') or '')}" for q in _quiz(content_dir)
    ]
    return [t for t in texts if t.strip()]


def _first_paragraph(markdown: str) -> str:
    for block in re.split(r"\n\s*\n", _clean(markdown)):
        if block.strip() and not block.lstrip().startswith(("|", "```", "#", "-", "1.")):
            return " ".join(block.split())
    return " ".join(_clean(markdown).split())


def _held_out(row_id: str, every: int = 8) -> bool:
    # By a hash of the row's id: a row stays on its side when others are added.
    return int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % every == 0


def instruction_rows(content_dir: str | Path) -> list[dict[str, str]]:
    content_dir = Path(content_dir)
    rows: list[dict[str, str]] = []
    for g in _glossary(content_dir):
        if g.get("short"):
            rows.append(
                {
                    "id": f"define-{g['slug']}",
                    "instruction": "Define this term in one sentence.",
                    "input": str(g["term"]),
                    "output": _clean(g["short"]),
                }
            )
        if g.get("long"):
            rows.append(
                {
                    "id": f"explain-{g['slug']}",
                    "instruction": "Explain this idea to someone learning generative AI, in a short paragraph.",
                    "input": str(g["term"]),
                    "output": _first_paragraph(g["long"]),
                }
            )
    for t in _topics(content_dir):
        if t.get("summary"):
            rows.append(
                {
                    "id": f"topic-{t['slug']}",
                    "instruction": "Say what a learner studies under this roadmap topic.",
                    "input": str(t["title"]),
                    "output": _first_paragraph(t["summary"]),
                }
            )
    for q in _quiz(content_dir):
        if q.get("model_answer"):
            rows.append(
                {
                    "id": f"interview-{q['slug']}",
                    "instruction": "Give the opening of a strong answer to this interview question.",
                    "input": _clean(q["question"]),
                    "output": _first_paragraph(q["model_answer"]),
                }
            )
    return rows


def _paragraphs(text: str) -> list[str]:
    """Prose paragraphs of a markdown body (no headings, tables, code or short lines)."""
    out, in_code = [], False
    for block in re.split(r"\n\s*\n", text):
        fences = block.count("```")
        if in_code or block.lstrip().startswith("```"):
            in_code = (in_code + fences) % 2 == 1
            continue
        if fences % 2:
            in_code = True
            continue
        stripped = block.strip()
        if len(stripped) < 80 or stripped.startswith(("#", "|")):
            continue
        out.append(stripped)
    return out


def rag_rows(content_dir: str | Path, *, max_questions: int = 80) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(docs, questions). A glossary term becomes a question when some article paragraph
    uses it: the answer is the glossary's definition, the context that paragraph, verbatim."""
    content_dir = Path(content_dir)
    articles = _articles(content_dir)
    docs = [{"id": a["id"], "title": a["title"], "text": a["text"]} for a in articles]
    paragraphs = [(a["id"], p) for a in articles for p in _paragraphs(a["text"])]
    questions: list[dict[str, Any]] = []
    for g in _glossary(content_dir):
        if not g.get("short"):
            continue
        names = [str(g["term"]), *[str(a) for a in g.get("aliases") or []]]
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b", re.I)
        # The paragraph that mentions the term most (first one on ties): the best single context.
        best = max(paragraphs, key=lambda item: len(pattern.findall(item[1])), default=None)
        if best is None or not pattern.search(best[1]):
            continue
        term = str(g["term"])
        term = term[0].lower() + term[1:] if term[1:2].islower() else term  # "gradient", but "RAG"
        questions.append(
            {
                "id": f"q-{g['slug']}",
                "question": f"What is {term}, and why does it matter?"
                if len(questions) % 2
                else f"In the curriculum, what does {term} mean?",
                "reference": _clean(g["short"]),
                "reference_contexts": [best[1]],
                "doc_ids": [best[0]],
            }
        )
        if len(questions) >= max_questions:
            break
    return docs, questions


# --- writing -----------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


README_INSTRUCTIONS = """\
# lora-instructions

Instruction-tuning pairs for the LoRA lab, generated by `manage.py registry_build` from the
curriculum shipped in `content/` (glossary, roadmap topics, interview questions). The
prompts are templates of our own; the answers are the curriculum's own text, so the data
carries the curriculum's licence and nothing was downloaded.

Files (UTF-8 JSON lines, one object a line):

| file | rows | use |
| --- | --- | --- |
| `train.jsonl` | {train} | fine-tune on these |
| `heldout.jsonl` | {heldout} | before/after evaluation only; never trained on |

Columns: `id` (stable, e.g. `define-gradient`), `instruction` (what to do), `input` (the
term, topic or question the instruction is about; may be empty) and `output` (the answer
to learn). A row is held out when a hash of its `id` falls in one bucket of eight, so a
row keeps its side when rows are added.

Row kinds: `define-*` (a term in one sentence), `explain-*` (a term in a paragraph),
`topic-*` (what a roadmap topic covers), `interview-*` (how a strong interview answer opens).
"""

README_RAG = """\
# rag-curriculum

A document set and a question set with reference answers for the RAG evaluation lab,
generated by `manage.py registry_build` from the curriculum shipped in `content/`.
Nothing was downloaded.

- `docs.jsonl` ({docs} rows): one published article each: `id` (the article slug),
  `title`, `text` (the markdown body). Chunking is the lab's job.
- `questions.jsonl` ({questions} rows): `id`, `question`, `reference` (the reference
  answer: the glossary's one-line definition of the term asked about),
  `reference_contexts` (a list with the article paragraph that best covers the term,
  copied verbatim from `docs.jsonl`, so context recall can be measured by string match
  or similarity) and `doc_ids` (the article it comes from).

A question is made for a glossary term when some article paragraph uses the term (or one
of its aliases); the paragraph that mentions it most often becomes the reference context.
The question wording is a template of our own.
"""


def _write_dataset(out_dir: Path, files: dict[str, list[dict[str, Any]]], readme: str, kind: str) -> dict[str, Any]:
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, rows in files.items():
        _write_jsonl(staging / name, rows)
    (staging / "README.md").write_text(readme, encoding="utf-8")
    meta = dataset_validate(staging, kind)
    make_readable(staging)
    meta["sha256"] = tree_sha256(staging)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    return meta


def write_instruction_dataset(out_dir: str | Path, content_dir: str | Path) -> dict[str, Any]:
    rows = instruction_rows(content_dir)
    train = [r for r in rows if not _held_out(r["id"])]
    heldout = [r for r in rows if _held_out(r["id"])]
    readme = README_INSTRUCTIONS.format(train=len(train), heldout=len(heldout))
    meta = _write_dataset(Path(out_dir), {"train.jsonl": train, "heldout.jsonl": heldout}, readme, "instruction")
    return {
        **meta,
        "format": "jsonl",
        "source": "shipped curriculum (content/)",
        "license": "the curriculum's own",
        "dataset_version": DATASET_VERSION,
        "description": "Instruction/input/output pairs from the glossary, roadmap and interview questions.",
    }


def write_rag_dataset(out_dir: str | Path, content_dir: str | Path) -> dict[str, Any]:
    docs, questions = rag_rows(content_dir)
    readme = README_RAG.format(docs=len(docs), questions=len(questions))
    meta = _write_dataset(Path(out_dir), {"docs.jsonl": docs, "questions.jsonl": questions}, readme, "rag-corpus")
    return {
        **meta,
        "format": "jsonl",
        "source": "shipped curriculum (content/)",
        "license": "the curriculum's own",
        "dataset_version": DATASET_VERSION,
        "description": "Curriculum articles as documents, and glossary questions with reference answers "
        "and verbatim reference contexts.",
    }
