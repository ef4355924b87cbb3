"""Comparing two runs of a lab and running one again: selectors, pages, API, permissions."""

from __future__ import annotations

import pytest
import yaml
from django.urls import reverse

from apps.core.errors import ApplicationError, NotFound
from apps.labs.models import LabJob
from apps.labs.sandbox import ExitStatus
from apps.labs.selectors import lab_job_compare_candidates, lab_jobs_compare
from apps.labs.services import lab_job_claim, lab_job_events_record, lab_job_finish, lab_job_submit

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/labs/jobs/"


@pytest.fixture(autouse=True)
def roomy_quota(settings):
    settings.LABS_MAX_ACTIVE_JOBS_PER_USER = 20
    settings.LABS_QUOTA_CPU_MINUTES_PER_DAY = 1000
    settings.LABS_QUOTA_GPU_MINUTES_PER_DAY = 1000


def finished(user, lab: str, params: dict, metrics: dict, curves: dict[str, list[tuple[int, float]]] | None = None):
    """A run that went through submit, claim, its events and finish, like a worker's."""
    job = lab_job_claim(lab_job_submit(user=user, lab=lab, params=params).pk, "w", "t")
    events = [("metric", {"name": name, "value": value, "step": step})
              for name, points in (curves or {}).items() for step, value in points]
    if events:
        lab_job_events_record(job, events, attempt=job.attempts)
    return lab_job_finish(job, ExitStatus(0, "succeeded", "ok"), metrics)


@pytest.fixture
def two_gpt_runs(labs, learner, no_celery):
    a = finished(learner, "char-gpt", {"steps": 40, "lr": 0.003, "seed": 7},
                 {"val_loss": 2.4, "final_loss": 2.2, "initial_loss": 4.2},
                 {"loss": [(10, 3.9), (20, 3.1), (30, 2.6), (40, 2.2)], "val_loss": [(40, 2.4)]})
    b = finished(learner, "char-gpt", {"steps": 40, "lr": 0.01, "seed": 7},
                 {"val_loss": 2.1, "final_loss": 1.9, "initial_loss": 4.1},
                 {"loss": [(10, 3.5), (20, 2.7), (30, 2.2), (40, 1.9)], "val_loss": [(40, 2.1)]})
    return a, b


# --- selectors ---------------------------------------------------------------------------------


def test_compare_diffs_params_metrics_and_series(two_gpt_runs, labs, learner, django_assert_max_num_queries):
    a, b = two_gpt_runs
    with django_assert_max_num_queries(3):  # two jobs (with their lab) and the series, in one query each
        c = lab_jobs_compare(user=learner, a=b.pk, b=a.pk)  # asked the other way round
    assert (c.a.pk, c.b.pk) == (a.pk, b.pk)  # A is the earlier run whatever the order
    rows = {row["name"]: row for row in c.params}
    assert list(rows) == [spec["name"] for spec in labs["char-gpt"].param_schema]  # the schema's order
    assert {"steps", "lr", "seed"} <= set(rows)
    assert rows["lr"] == {"name": "lr", "label": "Learning rate", "type": "float", "a": 0.003, "b": 0.01,
                          "changed": True}
    assert not rows["seed"]["changed"] and rows["seed"]["a"] == 7
    assert [row["name"] for row in c.changed_params] == ["lr"]
    metrics = {row["name"]: row for row in c.metrics}
    assert metrics["val_loss"]["a"] == 2.4 and metrics["val_loss"]["b"] == 2.1
    assert metrics["val_loss"]["delta"] == pytest.approx(-0.3)
    # val_loss has a "<=" target: lower is better, so B (lower) is the better run.
    assert metrics["val_loss"]["direction"] == "lower" and metrics["val_loss"]["better"] == "b"
    assert metrics["final_loss"]["better"] == "b"  # no target, but a loss falls
    assert metrics["initial_loss"]["direction"] == "" and metrics["initial_loss"]["better"] == ""
    assert c.series["loss"]["a"] == [[10, 3.9], [20, 3.1], [30, 2.6], [40, 2.2]]
    assert c.series["loss"]["b"][-1] == [40, 1.9]
    assert c.series["val_loss"] == {"a": [[40, 2.4]], "b": [[40, 2.1]]}


def test_a_target_of_at_least_means_higher_is_better(labs, learner, no_celery):
    a = finished(learner, "spam-classifier", {"C": 1.0}, {"accuracy": 0.97, "f1": 0.9, "note": "x"})
    b = finished(learner, "spam-classifier", {"C": 100.0}, {"accuracy": 0.95, "f1": 0.9})
    c = lab_jobs_compare(user=learner, a=a.pk, b=b.pk)
    metrics = {row["name"]: row for row in c.metrics}
    assert metrics["accuracy"]["direction"] == "higher" and metrics["accuracy"]["better"] == "a"
    assert metrics["f1"]["delta"] == 0 and metrics["f1"]["better"] == ""
    assert metrics["note"] == {"name": "note", "a": "x", "b": None, "delta": None, "direction": "", "better": ""}
    assert c.series == {}  # the spam classifier charts nothing


def test_compare_refuses_one_run_twice_and_runs_of_different_labs(labs, learner, no_celery):
    gpt = lab_job_submit(user=learner, lab="char-gpt", params={})
    spam = lab_job_submit(user=learner, lab="spam-classifier", params={})
    with pytest.raises(ApplicationError, match="different runs"):
        lab_jobs_compare(user=learner, a=gpt.pk, b=gpt.pk)
    with pytest.raises(ApplicationError, match="different labs"):
        lab_jobs_compare(user=learner, a=gpt.pk, b=spam.pk)


def test_someone_elses_run_does_not_exist_but_support_may_compare(two_gpt_runs, other_learner, staff):
    a, b = two_gpt_runs
    mine = lab_job_submit(user=other_learner, lab="char-gpt", params={})
    with pytest.raises(NotFound):
        lab_jobs_compare(user=other_learner, a=a.pk, b=b.pk)
    with pytest.raises(NotFound):  # one of mine does not make the other visible
        lab_jobs_compare(user=other_learner, a=mine.pk, b=a.pk)
    assert lab_jobs_compare(user=staff, a=a.pk, b=b.pk).lab.slug == "char-gpt"
    assert lab_job_compare_candidates(job=a, user=other_learner) == []
    assert [j.pk for j in lab_job_compare_candidates(job=a, user=staff)] == [b.pk]


# --- pages -------------------------------------------------------------------------------------


def test_compare_page_shows_the_diff_the_metrics_and_the_charts(client, two_gpt_runs, labs, learner):
    a, b = two_gpt_runs
    client.force_login(learner)
    response = client.get(reverse("labs:job-compare") + f"?a={a.pk}&b={b.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Two runs of Train a tiny GPT" in html
    assert f'<code title="{a.evidence_sha256}">{a.evidence_sha256[:12]}</code>' in html  # what a credential cites
    assert "1 setting differs:</strong> Learning rate." in html
    params = html[html.index('id="compare-params"'):html.index("</table>", html.index('id="compare-params"'))]
    n_params = len(labs["char-gpt"].param_schema)
    assert params.count('class="is-changed"') == 1 and params.count('class="is-same"') == n_params - 1
    assert "<td>0.003</td><td>0.01</td>" in params
    metrics = html[html.index('id="compare-metrics"'):]
    assert "-0.3 (-12.5%)" in metrics and "B better" in metrics
    assert html.count('class="labjob-chart compare-chart"') == 2  # loss and val_loss
    assert '"a": [[10, 3.9], [20, 3.1], [30, 2.6], [40, 2.2]]' in html  # the chart's data
    assert "loss by step: run A from 3.9 at step 10 to 2.2 at step 40" in html  # the chart in words
    assert "labs/compare.js" in html and "vendor/uplot-1.6.32.min.js" in html
    # Two ticked boxes from a history reach the same page.
    ticked = client.get(reverse("labs:job-compare") + f"?run={b.pk}&run={a.pk}")
    assert ticked.status_code == 200 and "1 setting differs" in ticked.content.decode()


def test_same_settings_say_so(labs, learner, client, no_celery):
    a = finished(learner, "spam-classifier", {"seed": 3}, {"accuracy": 0.97})
    b = finished(learner, "spam-classifier", {"seed": 3}, {"accuracy": 0.97})
    client.force_login(learner)
    html = client.get(reverse("labs:job-compare") + f"?a={a.pk}&b={b.pk}").content.decode()
    assert "Same settings and seed." in html and "0 (no change)" in html
    assert "compare-chart" not in html and "compare.js" not in html  # nothing to chart, no chart box


def test_compare_page_is_404_for_someone_elses_run(client, two_gpt_runs, other_learner):
    a, b = two_gpt_runs
    client.force_login(other_learner)
    assert client.get(reverse("labs:job-compare") + f"?a={a.pk}&b={b.pk}").status_code == 404
    assert client.get(reverse("labs:job-compare") + f"?run={a.pk}").status_code == 404
    assert client.get(reverse("labs:job-compare") + "?a=not-a-uuid&b=also-not").status_code == 404


def test_compare_page_needs_a_login(client, two_gpt_runs):
    a, b = two_gpt_runs
    response = client.get(reverse("labs:job-compare") + f"?a={a.pk}&b={b.pk}")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_different_labs_is_400_with_the_picker(client, labs, learner, no_celery):
    gpt = [lab_job_submit(user=learner, lab="char-gpt", params={"seed": s}) for s in (1, 2)]
    spam = lab_job_submit(user=learner, lab="spam-classifier", params={})
    client.force_login(learner)
    response = client.get(reverse("labs:job-compare") + f"?run={gpt[0].pk}&run={spam.pk}")
    assert response.status_code == 400
    html = response.content.decode()
    assert "These runs are of different labs (Train a tiny GPT and Spam classifier" in html
    # The picker for the first run's lab, that run ticked, the other one offered.
    assert f'value="{gpt[0].pk}" id="pick-{gpt[0].pk}" checked' in html
    assert f'value="{gpt[1].pk}" id="pick-{gpt[1].pk}">' in html and str(spam.pk) not in html.split("<h1>")[1]


def test_picker_empty_state_with_fewer_than_two_runs(client, labs, learner, no_celery):
    client.force_login(learner)
    url = reverse("labs:job-compare") + "?lab=spam-classifier"
    html = client.get(url).content.decode()
    assert "You have no runs of this lab yet. Comparing needs two." in html and "Open the lab" in html
    only = lab_job_submit(user=learner, lab="spam-classifier", params={})
    html = client.get(url).content.decode()
    assert "You have one run of this lab so far. Comparing needs two." in html
    assert f"?from={only.pk}" in html and 'type="checkbox"' not in html
    lab_job_submit(user=learner, lab="spam-classifier", params={"seed": 5})
    html = client.get(url).content.decode()
    assert html.count('type="checkbox" name="run"') == 2 and "Compare the two ticked runs" in html
    # One ticked box: asks for a second, keeps the first ticked.
    html = client.get(reverse("labs:job-compare") + f"?run={only.pk}").content.decode()
    assert "Tick a second run of this lab" in html and f'id="pick-{only.pk}" checked' in html


def test_job_page_offers_compare_with_and_run_again(client, two_gpt_runs, learner):
    a, b = two_gpt_runs
    client.force_login(learner)
    html = client.get(reverse("labs:job-detail", args=[b.pk])).content.decode()
    assert f'<input type="hidden" name="b" value="{b.pk}">' in html
    assert f'<option value="{a.pk}">' in html and f'<option value="{b.pk}">' not in html
    assert f"run {str(a.pk)[:8]} · Succeeded · val_loss 2.4 · final_loss 2.2</option>" in html
    rerun = reverse("labs:job-rerun", args=[b.pk])
    assert f'action="{rerun}" hx-post="{rerun}"' in html
    form = html[html.index(f'action="{rerun}"'):html.index("</form>", html.index(f'action="{rerun}"'))]
    assert 'name="csrfmiddlewaretoken"' in form  # works before any script runs
    assert "Change settings and run" in html


def test_only_run_of_a_lab_says_how_to_get_a_second(client, labs, learner, no_celery):
    job = finished(learner, "spam-classifier", {}, {"accuracy": 0.97})
    client.force_login(learner)
    html = client.get(reverse("labs:job-detail", args=[job.pk])).content.decode()
    assert "This is your only run of this lab so far." in html and 'id="compare-a"' not in html


def test_history_of_one_lab_has_boxes_to_tick(client, two_gpt_runs, learner, no_celery):
    lab_job_submit(user=learner, lab="spam-classifier", params={})
    client.force_login(learner)
    html = client.get(reverse("labs:job-list") + "?lab=char-gpt").content.decode()
    assert "Your runs of Train a tiny GPT" in html
    assert html.count('type="checkbox" name="run"') == 2 and f'action="{reverse("labs:job-compare")}"' in html
    assert client.get(reverse("labs:job-list") + "?lab=nope").status_code == 404
    everything = client.get(reverse("labs:job-list")).content.decode()
    assert everything.count('type="checkbox" name="run"') == 3


def test_run_again_launches_the_same_params_and_seed(client, two_gpt_runs, learner):
    a, _ = two_gpt_runs
    client.force_login(learner)
    response = client.post(reverse("labs:job-rerun", args=[a.pk]))
    new = LabJob.objects.exclude(pk__in=[j.pk for j in two_gpt_runs]).get()
    assert response.status_code == 302 and response["Location"] == reverse("labs:job-detail", args=[new.pk])
    assert new.params == a.params and new.params["seed"] == 7 and new.owner == learner
    assert new.status == "queued" and new.pk != a.pk
    # htmx (the button pushed over the websocket) is told where to go instead of a 302.
    response = client.post(reverse("labs:job-rerun", args=[a.pk]), headers={"HX-Request": "true"})
    newest = LabJob.objects.order_by("-queued_at").first()
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("labs:job-detail", args=[newest.pk])


def test_run_again_is_post_only_csrf_checked_and_owner_only(two_gpt_runs, learner, other_learner, staff):
    from django.test import Client

    a, _ = two_gpt_runs
    url = reverse("labs:job-rerun", args=[a.pk])
    client = Client(enforce_csrf_checks=True)
    client.force_login(learner)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    for outsider in (other_learner, staff):  # staff may look at it, but not launch it as themselves
        client = Client()
        client.force_login(outsider)
        assert client.post(url).status_code == 404
    assert LabJob.objects.count() == 2


def test_run_again_over_quota_says_why_and_stays(client, two_gpt_runs, learner, settings):
    a, _ = two_gpt_runs
    settings.LABS_QUOTA_CPU_MINUTES_PER_DAY = 0
    settings.LABS_QUOTA_GPU_MINUTES_PER_DAY = 0
    client.force_login(learner)
    response = client.post(reverse("labs:job-rerun", args=[a.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("labs:job-detail", args=[a.pk])
    assert "The run could not start again:" in response.content.decode()
    assert "resets at" in response.content.decode()
    assert LabJob.objects.count() == 2


# --- API -----------------------------------------------------------------------------------------


@pytest.fixture
def client_for(api_client):
    def login(user):
        api_client.force_authenticate(user)
        return api_client

    return login


def test_compare_api(client_for, two_gpt_runs, learner, other_learner):
    a, b = two_gpt_runs
    response = client_for(learner).get(f"{JOBS}compare/", {"a": str(b.pk), "b": str(a.pk)})
    assert response.status_code == 200
    data = response.json()
    assert data["lab"] == "char-gpt" and data["a"]["id"] == str(a.pk) and data["b"]["params"]["lr"] == 0.01
    assert data["changed"] == ["lr"]
    assert {"name": "lr", "label": "Learning rate", "type": "float", "a": 0.003, "b": 0.01,
            "changed": True} in data["params"]
    val = next(m for m in data["metrics"] if m["name"] == "val_loss")
    assert val["delta"] == pytest.approx(-0.3) and val["better"] == "b"
    assert data["series"]["loss"]["b"][0] == [10, 3.5]
    assert client_for(other_learner).get(f"{JOBS}compare/", {"a": str(a.pk), "b": str(b.pk)}).status_code == 404


def test_compare_api_bad_input_is_400_naming_the_field(client_for, labs, learner, no_celery):
    gpt = lab_job_submit(user=learner, lab="char-gpt", params={})
    spam = lab_job_submit(user=learner, lab="spam-classifier", params={})
    response = client_for(learner).get(f"{JOBS}compare/", {"a": str(gpt.pk)})
    assert response.status_code == 400 and "b is missing" in response.json()["b"][0]
    response = client_for(learner).get(f"{JOBS}compare/", {"a": str(gpt.pk), "b": str(spam.pk)})
    assert response.status_code == 400 and "different labs" in response.json()["detail"]
    response = client_for(learner).get(f"{JOBS}compare/", {"a": str(gpt.pk), "b": str(gpt.pk)})
    assert response.status_code == 400 and response.json()["field"] == "b"


def test_rerun_api(client_for, two_gpt_runs, learner, other_learner, staff, settings):
    a, _ = two_gpt_runs
    assert client_for(other_learner).post(f"{JOBS}{a.pk}/rerun/").status_code == 404
    assert client_for(staff).post(f"{JOBS}{a.pk}/rerun/").status_code == 404
    response = client_for(learner).post(f"{JOBS}{a.pk}/rerun/")
    assert response.status_code == 201
    data = response.json()
    assert data["params"] == a.params and data["status"] == "queued" and data["id"] != str(a.pk)
    settings.LABS_QUOTA_GPU_MINUTES_PER_DAY = 0
    settings.LABS_QUOTA_CPU_MINUTES_PER_DAY = 0
    response = client_for(learner).post(f"{JOBS}{a.pk}/rerun/")
    assert response.status_code == 429 and "Retry-After" in response
    assert LabJob.objects.count() == 3


def test_rerun_api_needs_authentication(api_client, two_gpt_runs):
    a, _ = two_gpt_runs
    assert api_client.post(f"{JOBS}{a.pk}/rerun/").status_code in (401, 403)
    assert api_client.get(f"{JOBS}compare/", {"a": str(a.pk), "b": str(a.pk)}).status_code in (401, 403)


def test_openapi_schema_documents_compare_and_rerun(client, db):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    compare = schema["paths"]["/api/v1/labs/jobs/compare/"]["get"]
    assert {p["name"] for p in compare["parameters"]} >= {"a", "b"}
    assert "LabJobComparison" in str(compare["responses"]["200"])
    assert "201" in schema["paths"]["/api/v1/labs/jobs/{job_id}/rerun/"]["post"]["responses"]
    assert "LabJobParamDiff" in schema["components"]["schemas"]


def test_code_settings_show_both_versions_and_the_lab_page_links_here(client, labs, learner, no_celery):
    a = finished(learner, "custom-script", {"code": "print('one')"}, {"score": 1.0})
    b = finished(learner, "custom-script", {"code": "print('two')"}, {"score": 2.0})
    client.force_login(learner)
    html = client.get(reverse("labs:job-compare") + f"?a={a.pk}&b={b.pk}").content.decode()
    assert "Run A's code" in html and "Run B's code" in html
    assert "print(&#x27;one&#x27;)" in html and "print(&#x27;two&#x27;)" in html  # escaped, both shown
    assert "+1 (+100.0%)" in html
    lab_page = client.get(reverse("labs:detail", args=["custom-script"])).content.decode()
    assert f'{reverse("labs:job-compare")}?lab=custom-script' in lab_page
    assert f'{reverse("labs:job-list")}?lab=custom-script' in lab_page


def test_pickers_name_a_run_by_when_it_started_as_the_run_list_does(client, two_gpt_runs, learner):
    import datetime as dt

    a, b = two_gpt_runs
    start = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC)
    LabJob.objects.filter(pk=a.pk).update(queued_at=start - dt.timedelta(minutes=30), started_at=start)
    client.force_login(learner)
    pages = [
        client.get(reverse("labs:job-detail", args=[b.pk])).content.decode(),  # "compare with" select
        client.get(reverse("labs:job-compare") + "?lab=char-gpt").content.decode(),  # the picker
        client.get(reverse("labs:job-list") + "?lab=char-gpt").content.decode(),  # the run list
    ]
    for html in pages:
        assert "Mar 4, 05:06" in html and "Mar 4, 04:36" not in html
