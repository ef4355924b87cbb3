"""Readiness: the checklist loader, the score and its parts, next steps, target roles."""

from __future__ import annotations

import pytest
from django.conf import settings

from apps.career import readiness_selectors as selectors
from apps.career.models import Role
from apps.career.readiness_models import MAX_TARGET_ROLES, ReadinessCategory, ReadinessItem, ReadinessTick, TargetRole
from apps.career.readiness_services import (
    readiness_items_load,
    readiness_tick_set,
    readiness_tick_toggle,
    target_role_add,
    target_role_remove,
)
from apps.core.errors import ApplicationError
from tests.career import readiness_support
from tests.career.readiness_support import CHECKLIST, set_topic, succeeded_job, write_checklist

world = readiness_support.world  # the fixture

DONE, IN_PROGRESS, SKIPPED = "done", "in_progress", "skipped"


def _part(readiness, key):
    return next(p for p in readiness.parts if p.key == key)


# --- The checklist loader ------------------------------------------------------------


def test_shipped_checklist_loads_every_category_and_is_idempotent(db):
    summary = readiness_items_load(settings.CONTENT_DIR)
    assert "changed" in summary
    categories = set(ReadinessItem.objects.values_list("category", flat=True))
    assert categories == set(ReadinessCategory.values)
    assert ReadinessItem.objects.count() >= 12
    # Every link is a site path or an https URL (rendered as an <a href>).
    for link in ReadinessItem.objects.exclude(link="").values_list("link", flat=True):
        assert link.startswith(("/", "https://")) and not link.startswith("//")
    assert readiness_items_load(settings.CONTENT_DIR).endswith("(0 changed)")


def test_bad_checklist_names_file_and_line_and_writes_nothing(db, tmp_path):
    bad = CHECKLIST.replace("category: writing", "category: poetry")
    with pytest.raises(ApplicationError) as exc:
        readiness_items_load(write_checklist(tmp_path / "content", bad))
    assert "career/readiness.yaml, line 8" in exc.value.message
    assert "poetry" in exc.value.message
    assert ReadinessItem.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("link: /portfolios/", "link: javascript:alert(1)"), "link must be a site path"),
        (("link: /portfolios/", "link: //evil.example/"), "link must be a site path"),
        (("  link_label: Open your portfolio\n", ""), "link and link_label go together"),
        (("- slug: meetup", "- slug: blog-post"), "used twice"),
        (("  text: A merged pull request.\n", ""), "text is required"),
        (("  why: Hiring managers look for them.", "  colour: red"), "unknown key 'colour'"),
    ],
)
def test_checklist_validation(db, tmp_path, change, message):
    text = CHECKLIST.replace(*change)
    assert text != CHECKLIST
    with pytest.raises(ApplicationError, match=message):
        readiness_items_load(write_checklist(tmp_path / "content", text))
    assert ReadinessItem.objects.count() == 0


def test_reload_keeps_ticks_and_retires_removed_items(world, learner, tmp_path):
    meetup = world["items"]["meetup"]
    readiness_tick_set(user=learner, item=meetup, ticked=True)
    without_meetup = CHECKLIST.split("- slug: meetup")[0]
    summary = readiness_items_load(write_checklist(tmp_path / "content2", without_meetup))
    assert summary == "readiness: 3 checklist items (1 changed)"
    meetup.refresh_from_db()
    assert not meetup.is_active
    assert ReadinessTick.objects.filter(user=learner, item=meetup).exists()  # kept
    assert [i.slug for i, _ in selectors.readiness_items(learner)] == ["five-projects", "blog-post", "merged-pr"]
    # Back in the file: active again, the old tick counts again.
    readiness_items_load(write_checklist(tmp_path / "content3"))
    assert dict((i.slug, t) for i, t in selectors.readiness_items(learner))["meetup"] is True


# --- The score -----------------------------------------------------------------------


def test_nothing_done_scores_zero_and_quiz_is_left_out(world, learner):
    r = selectors.readiness_get(learner, world["full"])
    assert r.score == 0
    assert [(p.key, p.done, p.total, p.weight) for p in r.parts] == [
        ("roadmap", 0, 3, 40),
        ("labs", 0, 2, 30),
        ("checklist", 0, 4, 30),
        ("quiz", 0, 0, 0),
    ]
    quiz = _part(r, "quiz")
    assert not quiz.counted and "left out" in quiz.explanation
    assert r.quiz_mastery is None
    assert selectors.quiz_mastery_for_role(learner, world["full"]) is None


def test_score_combines_topics_labs_and_ticks(world, learner):
    topics, labs, items = world["topics"], world["labs"], world["items"]
    set_topic(learner, topics["vectors"], DONE)
    set_topic(learner, topics["classic-ml"], IN_PROGRESS)
    succeeded_job(learner, labs["spam-classifier"], passed=True)
    readiness_tick_set(user=learner, item=items["blog-post"], ticked=True)

    r = selectors.readiness_get(learner, world["full"])
    assert (_part(r, "roadmap").done, _part(r, "labs").done, _part(r, "checklist").done) == (1, 1, 1)
    # 40% x 1/3 + 30% x 1/2 + 30% x 1/4 = 13.3 + 15 + 7.5
    assert r.score == 36
    assert "1 of the 3 roadmap topics" in _part(r, "roadmap").explanation
    assert "1 in progress" in _part(r, "roadmap").explanation
    assert "up to phase 3" in _part(r, "labs").explanation


def test_skipped_topics_and_runs_below_target_do_not_count(world, learner):
    set_topic(learner, world["topics"]["vectors"], SKIPPED)
    job = succeeded_job(learner, world["labs"]["spam-classifier"], passed=False)
    r = selectors.readiness_get(learner, world["full"])
    assert _part(r, "roadmap").done == 0
    assert "1 skipped, which do not count" in _part(r, "roadmap").explanation
    assert _part(r, "labs").done == 0
    spam = next(row for row in r.labs if row.lab.slug == "spam-classifier")
    assert spam.job == job and not spam.met_targets
    # Still listed as a verified result: it ran and succeeded, it just missed the target.
    assert [res.job for res in r.results] == [job]
    assert r.results[0].passed is False


def test_best_run_prefers_one_that_met_the_targets(world, learner):
    good = succeeded_job(learner, world["labs"]["spam-classifier"], passed=True)
    succeeded_job(learner, world["labs"]["spam-classifier"], passed=False)  # newer, worse
    r = selectors.readiness_get(learner, world["full"])
    spam = next(row for row in r.labs if row.lab.slug == "spam-classifier")
    assert spam.job == good and spam.met_targets


def test_failed_and_running_jobs_are_not_results(world, learner):
    from apps.labs.models import LabJob

    lab = world["labs"]["spam-classifier"]
    for status in ("failed", "running", "queued", "cancelled", "timed_out"):
        LabJob.objects.create(owner=learner, lab=lab, queue=lab.queue, status=status, grade={"passed": True})
    r = selectors.readiness_get(learner, world["full"])
    assert r.results == [] and r.results_total == 0
    assert _part(r, "labs").done == 0


def test_role_without_labs_in_scope_leaves_labs_out_and_rescales(world, learner):
    set_topic(learner, world["topics"]["vectors"], DONE)
    r = selectors.readiness_get(learner, world["small"])
    labs = _part(r, "labs")
    assert not labs.counted and labs.weight == 0 and "not counted" in labs.explanation
    assert (_part(r, "roadmap").weight, _part(r, "checklist").weight) == (57, 43)
    # 40/70 x 1/1 + 30/70 x 0/4
    assert r.score == 57


def test_a_role_with_nothing_measurable_has_no_score(world, learner):
    ReadinessItem.objects.update(is_active=False)
    empty = Role.objects.create(track=world["full"].track, slug="empty-role", title="Empty", summary="x")
    r = selectors.readiness_get(learner, empty)
    assert r.score is None
    assert all(not p.counted for p in r.parts)


def test_another_learners_progress_never_counts(world, learner, other_learner):
    set_topic(other_learner, world["topics"]["vectors"], DONE)
    succeeded_job(other_learner, world["labs"]["spam-classifier"])
    readiness_tick_set(user=other_learner, item=world["items"]["meetup"], ticked=True)
    target_role_add(user=other_learner, role=world["full"])
    r = selectors.readiness_get(learner, world["full"])
    assert r.score == 0 and r.results == [] and not r.is_target
    assert not any(ticked for group in r.checklist for _, ticked in group.items)
    assert selectors.readiness_overview(learner) == []


# --- Credentials (looked up lazily) ----------------------------------------------------


def test_credential_state_follows_the_credentials_app(world, learner, monkeypatch):
    job = succeeded_job(learner, world["labs"]["spam-classifier"])

    class FakeCredential:
        revoked_at = None

    monkeypatch.setattr(selectors, "_credential_lookup", lambda: None)
    assert selectors.readiness_get(learner, world["full"]).results[0].credential_state == "unavailable"
    monkeypatch.setattr(selectors, "_credential_lookup", lambda: lambda j: None)
    r = selectors.readiness_get(learner, world["full"])
    assert r.results[0].credential_state == "none"
    assert any(s.kind == "credential" and str(job.pk) in s.url for s in r.next_steps)
    monkeypatch.setattr(selectors, "_credential_lookup", lambda: lambda j: FakeCredential())
    assert selectors.readiness_get(learner, world["full"]).results[0].credential_state == "issued"
    revoked = FakeCredential()
    revoked.revoked_at = "2026-01-01"
    monkeypatch.setattr(selectors, "_credential_lookup", lambda: lambda j: revoked)
    assert selectors.readiness_get(learner, world["full"]).results[0].credential_state == "revoked"


# --- Next steps ----------------------------------------------------------------------


def test_next_steps_point_at_unfinished_work(world, learner):
    topics, labs = world["topics"], world["labs"]
    set_topic(learner, topics["vectors"], DONE)
    set_topic(learner, topics["transformers"], IN_PROGRESS)
    succeeded_job(learner, labs["spam-classifier"])
    readiness_tick_set(user=learner, item=world["items"]["five-projects"], ticked=True)
    steps = selectors.readiness_get(learner, world["full"]).next_steps
    kinds = [s.kind for s in steps]
    # Started topics first, then the unstarted one; the lab not run yet; one item per category left.
    assert [s.url for s in steps if s.kind == "topic"] == ["/learn/topics/transformers/", "/learn/topics/classic-ml/"]
    assert steps[0].text.startswith("Finish Transformers")
    assert [s.url for s in steps if s.kind == "lab"] == ["/labs/char-gpt/"]
    assert [s.text for s in steps if s.kind == "checklist"] == [
        "A technical blog post.",
        "A merged pull request.",
        "Went to a meetup.",
    ]
    assert len(steps) == len(kinds) <= selectors.NEXT_STEPS_MAX


# --- Targets and ticks -----------------------------------------------------------------


def test_target_roles_are_capped_and_idempotent(world, learner):
    track = world["full"].track
    roles = [
        Role.objects.create(track=track, slug=f"r{i}", title=f"R{i}", summary="x") for i in range(MAX_TARGET_ROLES)
    ]
    for role in roles:
        target_role_add(user=learner, role=role)
    target_role_add(user=learner, role=roles[0])  # already there: no error, no duplicate
    assert TargetRole.objects.filter(user=learner).count() == MAX_TARGET_ROLES
    with pytest.raises(ApplicationError) as exc:
        target_role_add(user=learner, role=world["full"])
    assert exc.value.field == "role"
    assert target_role_remove(user=learner, role=roles[0]) is True
    assert target_role_remove(user=learner, role=roles[0]) is False
    target_role_add(user=learner, role=world["full"])
    assert [s.target.role.slug for s in selectors.readiness_overview(learner)][-1] == "llm-engineer"


def test_toggle_and_retired_items(world, learner):
    item = world["items"]["meetup"]
    assert readiness_tick_toggle(user=learner, item=item) is True
    assert readiness_tick_toggle(user=learner, item=item) is False
    assert readiness_tick_set(user=learner, item=item, ticked=True) is True
    assert readiness_tick_set(user=learner, item=item, ticked=True) is True  # idempotent
    assert ReadinessTick.objects.filter(user=learner, item=item).count() == 1
    item.is_active = False
    item.save()
    with pytest.raises(ApplicationError):
        readiness_tick_set(user=learner, item=item, ticked=True)


def test_services_refuse_anonymous(world):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(ApplicationError):
        readiness_tick_toggle(user=AnonymousUser(), item=world["items"]["meetup"])
    with pytest.raises(ApplicationError):
        target_role_add(user=AnonymousUser(), role=world["full"])


def test_the_real_credentials_lookup_is_used(world, learner):
    from apps.credentials.selectors import credential_for_job

    assert selectors._credential_lookup() is credential_for_job
    succeeded_job(learner, world["labs"]["spam-classifier"])
    assert selectors.readiness_get(learner, world["full"]).results[0].credential_state == "none"


def test_quiz_mastery_counts_once_a_roles_topic_has_questions(world, learner):
    from apps.quiz.models import Question
    from apps.quiz.services import attempt_submit

    question = Question.objects.create(
        slug="vectors-quick", category="rapid-fire", difficulty="easy", phase=0, prompt="Is a vector a list?",
        model_answer="Yes.", choices=[{"text": "Yes", "correct": True}, {"text": "No", "correct": False}],
    )  # fmt: skip
    question.topics.add(world["topics"]["vectors"])
    small = world["full"].track.roles.get(slug="math-role")  # needs only "vectors"
    assert selectors.quiz_mastery_for_role(learner, small) == 0  # measurable, not practised yet
    assert selectors.quiz_mastery_for_role(learner, world["full"]) == 0  # vectors is one of its topics too
    attempt_submit(user=learner, question=question, answer="0")  # the right choice (index 0): 100
    mastery = selectors.quiz_mastery_for_role(learner, small)
    assert 0.9 <= mastery <= 1.0  # 100, weighted by recall just after answering
    quiz = _part(selectors.readiness_get(learner, small), "quiz")
    assert quiz.counted and quiz.percent == round(100 * mastery) and quiz.weight > 0
