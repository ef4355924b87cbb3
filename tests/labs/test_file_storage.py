"""What a learner's runs keep in storage: a per-learner cap on stored files, and deleting a
finished run's files (page and API) to make room, never a portfolio's evidence."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.errors import ApplicationError, NotFound
from apps.labs.models import Artifact
from apps.labs.sandbox import ExitStatus
from apps.labs.selectors import lab_files_stored_bytes, lab_job_snapshot
from apps.labs.services import lab_job_claim, lab_job_files_delete, lab_job_finish, lab_job_submit
from apps.portfolios import services as portfolios
from tests.portfolios.conftest import add_artifacts, make_job

pytestmark = pytest.mark.django_db
MiB = 1024 * 1024


def _finish_with_files(labs, user, tmp_path, sizes: dict[str, int]):
    job = lab_job_claim(lab_job_submit(user=user, lab="spam-classifier", params={}).pk, worker="w", task_id="t")
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
    return lab_job_finish(
        job, ExitStatus(0, "succeeded", "ok"), {"accuracy": 0.99},
        artifacts=[{"path": name} for name in sizes], work_dir=tmp_path,
    )


def test_files_past_the_learners_storage_limit_are_not_kept_and_the_note_says_how_to_make_room(
    labs, learner, other_learner, no_celery, settings, tmp_path
):
    settings.LABS_MAX_STORED_MB_PER_USER = 3
    first = _finish_with_files(labs, learner, tmp_path, {"a.bin": 2 * MiB})
    assert lab_files_stored_bytes(learner.pk) == 2 * MiB
    second = _finish_with_files(labs, learner, tmp_path, {"b.bin": MiB // 2, "c.bin": MiB, "d.bin": 1000})
    kept = set(second.artifacts.values_list("name", flat=True))
    assert kept == {"b.bin", "d.bin"}, "c.bin would pass 3 MB; the small file after it still fits"
    assert "File c.bin not kept" in second.reason and "Delete the files of runs" in second.reason
    # The limit is each learner's own.
    other = _finish_with_files(labs, other_learner, tmp_path, {"c.bin": MiB})
    assert other.artifacts.count() == 1
    # Deleting the first run's files makes room again.
    assert lab_job_files_delete(job=first, user=learner) == (1, 2 * MiB)
    third = _finish_with_files(labs, learner, tmp_path, {"c.bin": MiB})
    assert third.artifacts.filter(name="c.bin").exists()


def test_deleting_a_runs_files_keeps_their_records_and_frees_storage(
    labs, learner, django_capture_on_commit_callbacks
):
    job = make_job(learner, labs["spam-classifier"])
    plot, page = add_artifacts(job)
    storage = plot.file.storage
    names = [plot.file.name, page.file.name]
    assert all(storage.exists(n) for n in names)
    with django_capture_on_commit_callbacks(execute=True):
        files, freed = lab_job_files_delete(job=job.pk, user=learner)
    assert (files, freed) == (2, plot.size + page.size)
    assert not any(storage.exists(n) for n in names)
    rows = list(Artifact.objects.filter(job=job).values_list("name", "sha256", "file"))
    assert sorted(rows) == [("confusion.png", "1" * 64, ""), ("report.html", "2" * 64, "")]
    snap = lab_job_snapshot(job)
    assert [a["url"] for a in snap["artifacts"]] == [None, None] and snap["files_stored_bytes"] == 0
    assert lab_job_files_delete(job=job, user=learner) == (0, 0), "a second delete is a no-op"


def test_only_the_owner_deletes_and_never_a_running_run_or_portfolio_evidence(
    labs, learner, other_learner, staff
):
    lab = labs["spam-classifier"]
    job = make_job(learner, lab)
    add_artifacts(job)
    for someone in (other_learner, staff):
        with pytest.raises(NotFound):
            lab_job_files_delete(job=job, user=someone)
    running = make_job(learner, lab, status="running")
    with pytest.raises(ApplicationError, match="still going"):
        lab_job_files_delete(job=running, user=learner)
    project = portfolios.project_create(
        portfolio=portfolios.portfolio_get_or_create(user=learner), user=learner, title="Spam filter"
    )
    portfolios.evidence_attach(project=project, user=learner, job_id=job.pk)
    with pytest.raises(ApplicationError, match="evidence in your portfolio project \u201cSpam filter\u201d"):
        lab_job_files_delete(job=job, user=learner)
    assert Artifact.objects.filter(job=job).exclude(file="").count() == 2


def test_a_run_whose_files_were_deleted_cannot_become_evidence(labs, learner):
    job = make_job(learner, labs["spam-classifier"])
    add_artifacts(job)
    lab_job_files_delete(job=job, user=learner)
    project = portfolios.project_create(
        portfolio=portfolios.portfolio_get_or_create(user=learner), user=learner, title="X"
    )
    with pytest.raises(ApplicationError, match="deleted this run's files") as exc:
        portfolios.evidence_attach(project=project, user=learner, job_id=job.pk)
    assert exc.value.field == "job" and not project.evidence.exists()


def test_the_page_confirms_then_deletes_and_downloads_of_deleted_files_are_404(client, labs, learner, other_learner):
    job = make_job(learner, labs["spam-classifier"])
    plot, _page = add_artifacts(job)
    client.force_login(learner)
    detail = client.get(reverse("labs:job-detail", args=[job.pk])).content.decode()
    delete_url = reverse("labs:job-files-delete", args=[job.pk])
    assert delete_url in detail
    confirm = client.get(delete_url).content.decode()
    assert "Yes, delete the files" in confirm and "confusion.png" in confirm and "cannot be brought back" in confirm
    response = client.post(delete_url)
    assert response.status_code == 302 and response["Location"] == reverse("labs:job-detail", args=[job.pk])
    after = client.get(response["Location"]).content.decode()
    assert "Deleted 2 files" in after and "deleted by its owner" in after and delete_url not in after
    download = reverse("labs:artifact-download", args=[job.pk, plot.pk])
    assert client.get(download).status_code == 404
    client.force_login(other_learner)
    assert client.get(delete_url).status_code == 404 and client.post(delete_url).status_code == 404


def test_the_page_explains_why_evidence_files_stay(client, labs, learner):
    job = make_job(learner, labs["spam-classifier"])
    add_artifacts(job)
    project = portfolios.project_create(
        portfolio=portfolios.portfolio_get_or_create(user=learner), user=learner, title="Shown to employers"
    )
    portfolios.evidence_attach(project=project, user=learner, job_id=job.pk)
    client.force_login(learner)
    url = reverse("labs:job-files-delete", args=[job.pk])
    assert "Remove it from the project first" in client.get(url).content.decode()
    response = client.post(url)
    assert response.status_code == 400 and "Shown to employers" in response.content.decode()
    assert Artifact.objects.filter(job=job).exclude(file="").count() == 2


def test_the_api_deletes_a_runs_files_and_says_what_is_left(api_client, labs, learner, other_learner):
    job = make_job(learner, labs["spam-classifier"])
    plot, page = add_artifacts(job)
    url = f"/api/v1/labs/jobs/{job.pk}/files/"
    api_client.force_authenticate(other_learner)
    assert api_client.delete(url).status_code == 404
    api_client.force_authenticate(learner)
    body = api_client.delete(url).json()
    assert body["deleted_files"] == 2 and body["freed_bytes"] == plot.size + page.size
    assert body["stored_bytes"] == 0 and body["limit_bytes"] > 0
    detail = api_client.get(f"/api/v1/labs/jobs/{job.pk}/").json()
    assert [a["url"] for a in detail["artifacts"]] == [None, None]
    assert api_client.get(f"/api/v1/labs/jobs/{job.pk}/artifacts/{plot.pk}/").status_code == 404
    running = make_job(learner, labs["spam-classifier"], status="running")
    refused = api_client.delete(f"/api/v1/labs/jobs/{running.pk}/files/")
    assert refused.status_code == 400 and "still going" in refused.json()["detail"]


def test_the_labs_page_shows_what_the_learners_runs_keep(client, labs, learner):
    add_artifacts(make_job(learner, labs["spam-classifier"]))
    client.force_login(learner)
    html = client.get(reverse("labs:index")).content.decode()
    assert "Files your runs keep:" in html and "of 1.0 GB" in html


def test_the_evidence_picker_leaves_out_runs_without_their_files_and_says_which_met_their_target(labs, learner):
    from apps.portfolios.forms import EvidenceForm
    from apps.portfolios.selectors import evidence_candidate_jobs

    lab = labs["spam-classifier"]
    kept, emptied = make_job(learner, lab), make_job(learner, lab)
    add_artifacts(kept)
    add_artifacts(emptied)
    lab_job_files_delete(job=emptied, user=learner)
    missed = make_job(learner, lab)
    missed.grade = {"passed": False, "targets": []}
    missed.save(update_fields=["grade"])
    jobs = list(evidence_candidate_jobs(user=learner))
    assert {j.pk for j in jobs} == {kept.pk, missed.pk}
    labels = dict(EvidenceForm(jobs=jobs).fields["job"].choices)
    assert labels[str(kept.pk)].endswith("UTC \u00b7 target met") and "finished" in labels[str(kept.pk)]
    assert labels[str(missed.pk)].endswith("target missed")
