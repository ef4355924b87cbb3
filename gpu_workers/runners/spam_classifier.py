"""The TF-IDF spam classifier lab: a real scikit-learn baseline on SMS-style messages.

Data: ``data/sms_spam.tsv`` (label TAB text), a few hundred hand-written ham and spam
messages shipped with the runner: nothing is downloaded.

params (validated by the lab's schema before they get here; re-checked defensively):
``max_features`` (int, default 5000), ``ngram_max`` (1-3, default 2), ``C`` (float,
default 10.0), ``test_size`` (0.1-0.5, default 0.25), ``seed`` (int, default 0).

Emits progress, metrics (accuracy, precision, recall, f1 on the held-out split), writes
``model_summary.json`` (vocabulary size and the most spammy / hammy terms) as an
artifact, and a result with the metrics.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from gpu_workers.runners.protocol import Emitter

DATA = Path(__file__).parent / "data" / "sms_spam.tsv"


def load_messages(path: Path = DATA) -> tuple[list[str], list[int]]:
    """Return (texts, labels) with 1 = spam."""
    texts: list[str] = []
    labels: list[int] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            texts.append(row["text"])
            labels.append(1 if row["label"] == "spam" else 0)
    return texts, labels


def _params(raw: dict) -> dict:
    max_features = int(raw.get("max_features", 5000))
    ngram_max = int(raw.get("ngram_max", 2))
    c = float(raw.get("C", 10.0))
    test_size = float(raw.get("test_size", 0.25))
    if not 10 <= max_features <= 200_000:
        raise ValueError("max_features must be between 10 and 200000")
    if not 1 <= ngram_max <= 3:
        raise ValueError("ngram_max must be 1, 2 or 3")
    if not 0 < c <= 1e4:
        raise ValueError("C must be positive")
    if not 0.1 <= test_size <= 0.5:
        raise ValueError("test_size must be between 0.1 and 0.5")
    return {
        "max_features": max_features,
        "ngram_max": ngram_max,
        "C": c,
        "test_size": test_size,
        "seed": int(raw.get("seed", 0)),
    }


def run(spec: dict, emitter: Emitter) -> None:
    params = _params(spec.get("params", {}))
    emitter.progress(0.05, "loading scikit-learn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
    from sklearn.model_selection import train_test_split

    texts, labels = load_messages()
    emitter.progress(0.2, f"loaded {len(texts)} messages ({sum(labels)} spam)")
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=params["test_size"], random_state=params["seed"], stratify=labels
    )

    vectorizer = TfidfVectorizer(
        lowercase=True,
        ngram_range=(1, params["ngram_max"]),
        max_features=params["max_features"],
        sublinear_tf=True,
        # Keep digits/currency runs as tokens: "09061701461" and "£5,000" are strong spam cues.
        token_pattern=r"(?u)\b\w+\b|[£$€]",  # noqa: S106 - a regex, not a password
    )
    features_train = vectorizer.fit_transform(x_train)
    features_test = vectorizer.transform(x_test)
    emitter.progress(0.45, f"vectorised: {features_train.shape[1]} features")

    model = LogisticRegression(C=params["C"], max_iter=2000, class_weight="balanced")
    model.fit(features_train, y_train)
    emitter.progress(0.75, "trained logistic regression")

    predicted = model.predict(features_test)
    accuracy = float(accuracy_score(y_test, predicted))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_test, predicted, average="binary", pos_label=1, zero_division=0
    )
    metrics = {
        "accuracy": round(accuracy, 4),
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
    }
    for name, value in metrics.items():
        emitter.metric(name, value)

    vocab = vectorizer.get_feature_names_out()
    order = model.coef_[0].argsort()
    summary = {
        "params": params,
        "n_train": len(x_train),
        "n_test": len(x_test),
        "vocabulary_size": len(vocab),
        "top_spam_terms": [[str(vocab[i]), round(float(model.coef_[0][i]), 3)] for i in order[::-1][:20]],
        "top_ham_terms": [[str(vocab[i]), round(float(model.coef_[0][i]), 3)] for i in order[:20]],
        "confusion_matrix": confusion_matrix(y_test, predicted).tolist(),
        "metrics": metrics,
    }
    out = Path(spec["work_dir"]) / "model_summary.json"
    out.write_text(json.dumps(summary, indent=2))
    emitter.artifact("model_summary.json", "model_summary")
    emitter.progress(1.0, "done")
    examples = [
        {"text": text, "spam_probability": round(float(p), 3)}
        for text, p in zip(x_test[:5], model.predict_proba(features_test[:5])[:, 1], strict=True)
    ]
    emitter.result(metrics, vocabulary_size=len(vocab), examples=examples)
