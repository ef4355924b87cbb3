"""Spam or ham: TF-IDF features + logistic regression (runner: gpu_workers/runners/spam_classifier.py)."""

from __future__ import annotations

from apps.labs.kinds import LabKind, Param, Target

KIND = LabKind(
    slug="spam-classifier",
    runner="spam_classifier",
    title="Spam classifier: TF-IDF + logistic regression",
    summary="Turn text messages into TF-IDF features, train a logistic regression and measure it "
    "on messages it has never seen.",
    params=(
        Param("max_features", "int", "Vocabulary size", 5000, min=10, max=200_000, step=10,
              help="How many of the most frequent words (and word pairs) become features. "
              "Small vocabularies underfit; past a few thousand it rarely helps on a dataset this size."),
        Param("ngram_max", "choice", "Longest n-gram", 2, choices=(1, 2, 3),
              help="1 = single words only; 2 adds word pairs such as \"free entry\", which often carry "
              "more signal than either word."),
        Param("C", "float", "Inverse regularisation (C)", 10.0, min=0.01, max=1000, step=0.01,
              help="Large C trusts the training data more (less regularisation); small C keeps weights "
              "small and the model simpler."),
        Param("test_size", "float", "Held-out share", 0.25, min=0.1, max=0.5, step=0.05,
              help="Fraction of messages kept aside for scoring. More test data = a more trustworthy score, "
              "less training data."),
        Param("seed", "int", "Random seed", 0, min=0, max=2**31 - 1,
              help="Fixes the train/test split so two runs with the same settings give the same result."),
    ),
    limits={"wall_seconds": 120, "cpu_seconds": 120, "memory_mb": 1024, "max_processes": 32,
            "max_file_mb": 64, "max_log_bytes": 200_000},
    targets=(Target("accuracy", ">=", 0.95, "Accuracy of at least 95% on the held-out set"),),
    queue="cpu",
    estimated_minutes=1.0,
    milestone_slug="spam-classifier",
    position=10,
    key_metrics=("accuracy", "f1"),
    warm_imports=("sklearn.feature_extraction.text", "sklearn.linear_model", "sklearn.metrics",
                  "sklearn.model_selection"),
)
