from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from apps.labs.models import Artifact, LabJob
from apps.labs.sandbox import ExitStatus
from apps.labs.services import lab_job_claim, lab_job_events_record, lab_job_finish, lab_job_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, learner):
    client.force_login(learner)
    return client


def test_catalogue_lists_what_each_lab_teaches_with_estimate_and_quota(logged_in, labs):
    html = logged_in.get(reverse("labs:index")).content.decode()
    assert "Spam classifier: TF-IDF + logistic regression" in html and "Train a tiny GPT" in html
    assert "Precision, recall and F1" in html  # the kind's about.html
    assert "about 1 CPU-minute" in html and "accuracy \u2265 0.95" in html
    assert "60 of 60 CPU-minutes" in html and "Resets at 00:00 UTC" in html
    assert "GPU-minutes" not in html  # no lab uses the gpu queue on this installation


def test_catalogue_empty_state(client, db):
    html = client.get(reverse("labs:index")).content.decode()
    assert "No labs are available yet" in html and "load_content" in html


def test_launch_form_is_generated_from_the_schema_with_cost_before_the_button(logged_in, labs):
    html = logged_in.get(reverse("labs:detail", args=["spam-classifier"])).content.decode()
    assert 'name="max_features"' in html and 'value="5000"' in html and 'min="10"' in html and 'max="200000"' in html
    assert "Allowed: a whole number between 10 and 200000. Default: <strong>5000</strong>." in html
    assert '<option value="2" selected>2</option>' in html
    estimate, quota, button = (html.index("Estimated time:"), html.index("Your quota:"), html.index("Launch run"))
    assert estimate < quota < button
    assert "about 1 CPU-minute" in html and "60 of 60 CPU-minutes left today" in html


def test_launch_creates_a_job_and_redirects_to_its_page(logged_in, labs, learner, no_celery):
    response = logged_in.post(reverse("labs:detail", args=["spam-classifier"]),
                              {"max_features": "800", "ngram_max": "1", "C": "3", "test_size": "0.2", "seed": "4"})
    job = LabJob.objects.get(owner=learner)
    assert response.status_code == 302 and response["Location"] == reverse("labs:job-detail", args=[job.pk])
    assert job.params == {"max_features": 800, "ngram_max": 1, "C": 3.0, "test_size": 0.2, "seed": 4}


def test_launch_with_a_value_out_of_range_marks_the_field(logged_in, labs):
    response = logged_in.post(reverse("labs:detail", args=["spam-classifier"]),
                              {"max_features": "5", "ngram_max": "2", "C": "10", "test_size": "0.25", "seed": "0"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_max_features-error"' in html and "must be a whole number between 10 and 200000; got 5" in html
    assert not LabJob.objects.exists()


def test_launch_over_quota_says_when_it_resets(logged_in, labs, settings, no_celery):
    settings.LABS_QUOTA_CPU_MINUTES_PER_DAY = 1
    data = {"max_features": "500", "ngram_max": "2", "C": "10", "test_size": "0.25", "seed": "0"}
    assert logged_in.post(reverse("labs:detail", args=["spam-classifier"]), data).status_code == 302
    response = logged_in.post(reverse("labs:detail", args=["spam-classifier"]), data)
    assert response.status_code == 429 and "resets at 00:00 UTC" in response.content.decode()
    html = logged_in.get(reverse("labs:detail", args=["spam-classifier"])).content.decode()
    assert "Launch run" not in html and "0 CPU-minutes left today" in html


def test_unavailable_sandbox_shows_the_message_instead_of_the_button(logged_in, labs, settings):
    settings.LABS_SANDBOX_BACKEND = "tests.labs.fakes.ScriptedBackend"
    settings.LABS_SANDBOX_OPTIONS = {"unavailable": "bubblewrap is not installed: run `apt-get install -y bubblewrap`."}
    html = logged_in.get(reverse("labs:detail", args=["char-gpt"])).content.decode()
    assert "Labs cannot run on this server right now" in html and "apt-get install -y bubblewrap" in html
    assert "Launch run" not in html


def test_anonymous_visitors_see_the_lab_and_a_login_link(client, labs):
    html = client.get(reverse("labs:detail", args=["char-gpt"])).content.decode()
    assert "Log in to launch this lab" in html and "Launch run" not in html
    assert client.get(reverse("labs:detail", args=["nope"])).status_code == 404
    assert client.get(reverse("labs:job-list")).status_code == 302


def test_history_empty_state_teaches(logged_in, labs):
    html = logged_in.get(reverse("labs:job-list")).content.decode()
    assert "No lab runs yet - start with the spam classifier, about 1 CPU-minute." in html
    assert reverse("labs:detail", args=["spam-classifier"]) in html


def test_history_shows_status_duration_metrics_and_paginates_in_few_queries(
    logged_in, labs, learner, other_learner, settings, no_celery, django_assert_max_num_queries
):
    settings.LABS_MAX_ACTIVE_JOBS_PER_USER = 100
    settings.LABS_QUOTA_CPU_MINUTES_PER_DAY = 1000
    done = lab_job_claim(lab_job_submit(user=learner, lab="spam-classifier", params={}).pk, "w", "t")
    lab_job_finish(done, ExitStatus(0, "succeeded", "ok"), {"accuracy": 0.9731, "f1": 0.96})
    for _ in range(22):
        lab_job_submit(user=learner, lab="spam-classifier", params={})
    lab_job_submit(user=other_learner, lab="spam-classifier", params={})
    # 23 jobs on 2 pages: the rows must not cost a query each. 10 = session, user, count,
    # page, quota... plus the nav's one permission lookup (user and group permissions, 2
    # queries, cached on the user for the rest of the request).
    with django_assert_max_num_queries(10):
        html = logged_in.get(reverse("labs:job-list")).content.decode()
    assert html.count("<tr>") == 21  # header + 20 rows
    assert "Queued #" in html and "Page 1 of 2" in html
    page2 = logged_in.get(reverse("labs:job-list") + "?page=2").content.decode()
    assert "accuracy <strong>0.9731</strong>" in page2 and "passed" in page2 and "Succeeded" in page2


def test_someone_elses_job_page_is_404_and_staff_can_look(client, labs, learner, other_learner, staff, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    client.force_login(other_learner)
    for name in ("labs:job-detail", "labs:job-cancel"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    assert client.post(reverse("labs:job-cancel", args=[job.pk])).status_code == 404
    client.force_login(staff)
    assert client.get(reverse("labs:job-detail", args=[job.pk])).status_code == 200


def test_live_job_page_connects_the_websocket_and_shows_state(logged_in, labs, learner, no_celery):
    job = lab_job_claim(lab_job_submit(user=learner, lab="char-gpt", params={"steps": 50}).pk, "w", "t")
    lab_job_events_record(job, [("progress", {"fraction": 0.4, "message": "step 20/50"}),
                                ("metric", {"name": "loss", "value": 3.1, "step": 20}),
                                ("log", {"stream": "stdout", "line": "hello <b>"})], attempt=job.attempts)
    html = logged_in.get(reverse("labs:job-detail", args=[job.pk])).content.decode()
    assert f'ws-connect="/ws/labs/jobs/{job.pk}/"' in html and 'hx-ext="ws"' in html
    assert 'data-last-seq="3"' in html
    assert 'role="status" aria-live="polite"' in html and "Running" in html
    assert 'aria-valuenow="40"' in html and "step 20/50" in html
    assert "hello &lt;b&gt;" in html  # runner output is escaped
    assert '"name": "loss", "step": 20, "value": 3.1' in html  # chart's first paint
    assert "vendor/htmx-ext-ws-2.0.4.min.js" in html and "vendor/uplot-1.6.32.min.js" in html
    assert 'id="labjob-cancel-dialog"' in html and "Cancel run" in html


def test_finished_job_page_shows_grade_metrics_artifacts_and_no_socket(logged_in, labs, learner, no_celery):
    job = lab_job_claim(lab_job_submit(user=learner, lab="spam-classifier", params={}).pk, "w", "t")
    done = lab_job_finish(job, ExitStatus(0, "succeeded", "ok"), {"accuracy": 0.97, "f1": 0.96})
    artifact = Artifact(job=done, name="model_summary.json", size=2, sha256="ab" * 32)
    artifact.file.save("model_summary.json", ContentFile(b"{}"), save=True)
    html = logged_in.get(reverse("labs:job-detail", args=[job.pk])).content.decode()
    assert "ws-connect" not in html and "Cancel run" not in html
    assert "Target met" in html and "got 0.97 (needs \u2265 0.95)" in html
    download = reverse("labs:artifact-download", args=[job.pk, artifact.pk])
    assert download in html and "Change settings and run" in html
    response = logged_in.get(download)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"{}"


def test_failed_job_page_gives_the_plain_reason(logged_in, labs, learner, no_celery):
    job = lab_job_claim(lab_job_submit(user=learner, lab="custom-script", params={"code": "1/0"}).pk, "w", "t")
    lab_job_finish(job, ExitStatus(1, "failed", "The program exited with code 1."),
                   stderr_tail=["ZeroDivisionError: division by zero"])
    html = logged_in.get(reverse("labs:job-detail", args=[job.pk])).content.decode()
    assert "This run failed." in html and "Error in your code" in html and "ZeroDivisionError" in html


def test_cancel_confirmation_page_then_cancel(logged_in, labs, learner, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    page = logged_in.get(reverse("labs:job-cancel", args=[job.pk])).content.decode()
    assert "Cancel this run?" in page and "Yes, cancel the run" in page
    response = logged_in.post(reverse("labs:job-cancel", args=[job.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("labs:job-detail", args=[job.pk])
    assert "The run was cancelled." in response.content.decode()
    assert LabJob.objects.get(pk=job.pk).status == "cancelled"


def test_run_again_prefills_the_form(logged_in, labs, learner, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={"max_features": 777})
    html = logged_in.get(reverse("labs:detail", args=["spam-classifier"]) + f"?from={job.pk}").content.decode()
    assert 'value="777"' in html


def test_lab_catalog_sync_is_the_load_content_loader(settings):
    from django.utils.module_loading import import_string

    from apps.labs.services import lab_catalog_sync

    assert import_string("apps.labs.services.lab_catalog_sync") is lab_catalog_sync
    assert "apps.labs.services.lab_catalog_sync" in settings.CONTENT_LOADERS


def test_admin_pages_for_labs_render(client, staff, labs, learner, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    lab_job_events_record(job, [("log", {"line": "x"})])
    client.force_login(staff)
    for url in ("/admin/labs/lab/", f"/admin/labs/lab/{labs['char-gpt'].pk}/change/", "/admin/labs/labjob/",
                f"/admin/labs/labjob/{job.pk}/change/", "/admin/labs/labjobevent/"):
        assert client.get(url).status_code == 200, url


def test_a_hiring_manager_reads_the_lab_but_gets_no_launch_button(client, labs, hiring_manager):
    client.force_login(hiring_manager)
    url = reverse("labs:detail", args=["spam-classifier"])
    html = client.get(url).content.decode()
    assert "Spam classifier" in html and "cannot launch lab runs" in html and "Launch run" not in html
    assert "Your quota" not in html and "Your runs of this lab" not in html
    index = client.get(reverse("labs:index")).content.decode()
    assert "CPU-minutes</strong> left today" not in index and "Files your runs keep" not in index
    response = client.post(url, {"max_features": "800", "ngram_max": "1", "C": "3", "test_size": "0.2", "seed": "4"})
    assert response.status_code == 403 and "part of a learner" in response.content.decode()
    assert not LabJob.objects.exists()


def test_a_lab_whose_model_is_not_ready_says_so_instead_of_offering_launch(logged_in, labs):
    # No registry entry is ready in this database (the model has not been built).
    html = logged_in.get(reverse("labs:detail", args=["lora-finetune"])).content.decode()
    assert "can be launched once its base model and instruction dataset are ready" in html
    assert "Launch run" not in html and 'id="registry-build-notice"' in html
    plain = logged_in.get(reverse("labs:detail", args=["spam-classifier"])).content.decode()
    assert "Launch run" in plain and "registry-build-notice" not in plain


def test_launching_without_a_ready_model_names_the_field_in_words(logged_in, labs):
    # The model select has no option to send; the other fields are posted as a browser does.
    response = logged_in.post(reverse("labs:detail", args=["llm-inference"]), {"seed": "0"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_model-error"' in html and "nothing was given" in html and "got None" not in html
    # An empty POST is a submission too (every field missing), not an unbound form.
    assert "nothing was given" in logged_in.post(reverse("labs:detail", args=["llm-inference"]), {}).content.decode()


def test_the_form_reads_numeric_text_as_the_api_does(logged_in, labs):
    response = logged_in.post(reverse("labs:detail", args=["spam-classifier"]),
                              {"max_features": "1_000", "ngram_max": "2", "C": "10", "test_size": "0.25", "seed": "0"})
    assert response.status_code == 400 and 'id="id_max_features-error"' in response.content.decode()
    assert not LabJob.objects.exists()
