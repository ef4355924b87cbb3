"""How long a lab usually takes here: measured from this installation's own succeeded runs,
and the launch page's wording with and without such a measurement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.labs.models import LabJob
from apps.labs.selectors import lab_typical_duration
from apps.labs.templatetags.labs_tags import rough_duration

pytestmark = pytest.mark.django_db


def _runs(lab, owner, *seconds: float, status: str = LabJob.Status.SUCCEEDED, ended_days_ago: float = 0):
    """Jobs of ``lab`` that ran ``seconds`` each, the first listed finishing most recently."""
    end = timezone.now() - timedelta(days=ended_days_ago)
    for index, duration in enumerate(seconds):
        finished = end - timedelta(minutes=index)
        LabJob.objects.create(
            owner=owner, lab=lab, status=status, started_at=finished - timedelta(seconds=duration), finished_at=finished
        )


def test_median_of_the_succeeded_runs(labs, learner, django_assert_num_queries):
    _runs(labs["spam-classifier"], learner, 30, 20, 40, 10, 1000)  # one very slow run does not move a median
    with django_assert_num_queries(1):
        assert lab_typical_duration(labs["spam-classifier"]) == 30


def test_none_with_fewer_than_three_runs(labs, learner):
    assert lab_typical_duration(labs["spam-classifier"]) is None
    _runs(labs["spam-classifier"], learner, 30, 40)
    assert lab_typical_duration(labs["spam-classifier"]) is None
    _runs(labs["spam-classifier"], learner, 50)
    assert lab_typical_duration(labs["spam-classifier"]) == 40


def test_ignores_runs_that_did_not_succeed_other_labs_and_unfinished_ones(labs, learner, other_learner):
    lab = labs["spam-classifier"]
    _runs(lab, learner, 30, 40)
    for status in (LabJob.Status.FAILED, LabJob.Status.CANCELLED, LabJob.Status.TIMED_OUT):
        _runs(lab, learner, 900, 900, 900, status=status)
    _runs(labs["char-gpt"], learner, 500, 500, 500)
    LabJob.objects.create(owner=learner, lab=lab, status=LabJob.Status.RUNNING, started_at=timezone.now())
    LabJob.objects.create(owner=learner, lab=lab, status=LabJob.Status.QUEUED)
    assert lab_typical_duration(lab) is None  # two succeeded runs of this lab are not enough

    _runs(lab, other_learner, 50)  # everyone's runs count: it is the installation's speed
    assert lab_typical_duration(lab) == 40


def test_only_the_last_twenty_runs_count(labs, learner):
    lab = labs["spam-classifier"]
    _runs(lab, learner, *[600] * 30, ended_days_ago=30)  # slow, before an upgrade
    _runs(lab, learner, *[20] * 20)
    assert lab_typical_duration(lab) == 20


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.3, "1 s"), (35, "35 s"), (89, "89 s"), (90, "1.5 min"), (150, "2.5 min"), (170, "3 min"), (725, "12 min")],
)
def test_rough_duration_says_seconds_under_ninety_then_minutes(seconds, text):
    assert rough_duration(seconds) == text


# --- the lab page ----------------------------------------------------------------------------


@pytest.fixture
def logged_in(client, learner):
    client.force_login(learner)
    return client


def test_lab_page_says_the_estimate_is_an_estimate_until_runs_here_measure_it(logged_in, labs):
    html = logged_in.get(reverse("labs:detail", args=["char-gpt"])).content.decode()
    assert "estimate: about 2 CPU-minutes, not yet measured here" in html  # at a glance
    launch = html[html.index("Estimated time:") : html.index("Your quota:")]
    assert "about 2 CPU-minutes" in launch and "an estimate: not yet measured on this installation" in launch
    assert "usually about" not in html


def test_lab_page_shows_the_typical_time_of_runs_here(logged_in, labs, learner):
    _runs(labs["char-gpt"], learner, 30, 35, 40)
    html = logged_in.get(reverse("labs:detail", args=["char-gpt"])).content.decode()
    assert html.count("usually about 35 s") == 2  # at a glance and in the launch summary
    launch = html[html.index("Estimated time:") : html.index("Your quota:")]
    assert "median of recent runs here" in launch
    assert "estimate:" not in html and "not yet measured" not in html


def test_lab_page_says_minutes_for_longer_runs(logged_in, labs, learner):
    _runs(labs["char-gpt"], learner, 140, 150, 160)
    html = logged_in.get(reverse("labs:detail", args=["char-gpt"])).content.decode()
    assert "usually about 2.5 min" in html


def test_the_catalogue_shows_each_labs_measured_time_in_one_query(client, labs, learner, django_assert_num_queries):
    from apps.labs.selectors import lab_typical_durations

    _runs(labs["spam-classifier"], learner, 30, 40, 50)
    _runs(labs["char-gpt"], learner, 100, 200)  # too few: the configured estimate, said to be one
    with django_assert_num_queries(1):
        typical = lab_typical_durations(list(labs.values()))
    assert typical == {labs["spam-classifier"].pk: 40}
    page = client.get(reverse("labs:index")).content.decode()
    spam, char = (page.split(f'id="lab-{slug}"')[1].split("</article>")[0] for slug in ("spam-classifier", "char-gpt"))
    assert "usually about 40" in spam
    assert "not yet measured here" in char
