"""The signed-in home: each role sees its own work (apps/core/home.py and each app's home.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.curriculum.loader import curriculum_load
from apps.curriculum.models import Topic
from apps.curriculum.services import topic_progress_set
from apps.labs.home import SPARK_POINTS, sparkline
from apps.labs.models import LabJobEvent
from apps.portfolios import services as portfolio_services
from tests.curriculum.conftest import FIXTURE_CONTENT
from tests.labs.conftest import labs  # noqa: F401  (the lab catalogue fixture)
from tests.portfolios.conftest import make_job, published_portfolio


@pytest.fixture
def roadmap(db):
    curriculum_load(FIXTURE_CONTENT)


def home_html(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


def test_anonymous_visitors_get_the_pitch_not_panels(client, roadmap):
    html = client.get(reverse("home")).content.decode()
    assert "Create a free account" in html and "home-panel" not in html


def test_a_new_learner_is_shown_where_to_start(client, roadmap, labs, learner):  # noqa: F811
    html = home_html(client, learner)
    assert "Your roadmap" in html and "0</strong> of 7 topics done" in html
    assert "Next up:" in html and ">Vectors</strong>" in html
    assert "No runs yet." in html and "CPU-minutes left today" in html
    assert "Choose a target role" in html and "Start your portfolio" in html
    assert "Candidates" not in html.split("<main", 1)[1] and "author desk" not in html


def test_the_learners_home_follows_their_progress_and_latest_run(client, roadmap, labs, learner):  # noqa: F811
    topic_progress_set(learner, Topic.objects.get(slug="vectors"), "done")
    topic_progress_set(learner, Topic.objects.get(slug="derivatives"), "in_progress")
    job = make_job(learner, labs["char-gpt"], metrics={"val_loss": 1.91}, params={"steps": 50})
    for step, loss in enumerate([4.2, 3.1, 2.5, 2.0]):
        LabJobEvent.objects.create(job=job, seq=step + 1, type="metric",
                                   payload={"name": "loss", "value": loss, "step": step * 10})
    html = home_html(client, learner)
    assert "1</strong> of 7 topics done" in html
    assert "Continue:" in html and ">Derivatives</strong>" in html
    assert "Gradients explained" in html  # the in-progress topic's unread article
    assert "Train a tiny GPT" in html and "<polyline" in html and "loss over the run" in html


def test_the_learners_own_work_only(client, roadmap, labs, learner, other_learner):  # noqa: F811
    make_job(other_learner, labs["spam-classifier"])
    html = home_html(client, learner)
    assert "No runs yet." in html and "Spam classifier" not in html.split("Your latest lab run", 1)[1][:600]


def test_a_hiring_manager_sees_candidates_not_a_learners_controls(client, roadmap, labs, learner, hiring_manager):  # noqa: F811
    portfolio = published_portfolio(learner, make_job(learner, labs["spam-classifier"]))
    shortlist = portfolio_services.shortlist_create(user=hiring_manager, name="Q3 hires")
    portfolio_services.shortlist_entry_add(shortlist=shortlist, user=hiring_manager, public_id=portfolio.public_id)
    html = home_html(client, hiring_manager)
    assert "Newly published" in html and "Spam hunter" in html and "1 verified result" in html
    assert "Q3 hires" in html and "1 candidate" in html
    assert f'action="{reverse("credentials:verify")}"' in html and 'name="credential"' in html
    for learner_only in ("Your roadmap", "CPU-minutes left", "Your job readiness", "Your portfolio"):
        assert learner_only not in html


def test_a_hiring_manager_with_nobody_published_is_told_so(client, roadmap, hiring_manager):
    html = home_html(client, hiring_manager)
    assert "No learner has published a portfolio yet." in html


def test_an_author_sees_drafts_edits_and_gaps(client, roadmap, author):
    html = home_html(client, author)
    assert "Your author desk" in html and "An unfinished draft" in html
    assert "with no article to go deeper" in html
    assert "Your roadmap" not in html and "Newly published" not in html


def test_the_learners_home_is_a_fixed_number_of_queries(client, roadmap, labs, learner,  # noqa: F811
                                                        django_assert_max_num_queries):
    client.force_login(learner)
    client.get(reverse("home"))
    for _ in range(5):
        make_job(learner, labs["spam-classifier"])
    with django_assert_max_num_queries(40):
        client.get(reverse("home"))


def test_sparkline_thins_long_series_and_skips_short_or_broken_ones():
    assert sparkline([]) == "" and sparkline([1.0]) == "" and sparkline([1.0, float("nan")]) == ""
    points = sparkline([float(i) for i in range(500)]).split()
    assert len(points) == SPARK_POINTS
    first, last = (tuple(map(float, p.split(","))) for p in (points[0], points[-1]))
    assert first[0] == 0 and last[0] == 160 and first[1] > last[1]  # rising values go up the box
    assert sparkline([2.0, 2.0]) == "0.0,38.0 160.0,38.0"  # flat series: no division by zero
