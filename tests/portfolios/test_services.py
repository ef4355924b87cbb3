"""Portfolio services and selectors: what may be attached, what is refused (field named),
what search finds, what a CSV export contains."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from apps.core.errors import ApplicationError, NotFound, PermissionDenied
from apps.portfolios import selectors, services
from apps.portfolios.models import MAX_LINKS, MAX_SKILLS
from tests.portfolios.conftest import make_job


def _field(exc_info) -> str:
    return exc_info.value.field


def test_links_must_be_http_and_capped(learner):
    p = services.portfolio_get_or_create(user=learner)
    for bad in ("javascript:alert(1)", "data:text/html,hi", "ftp://x.org/", "not a url"):
        with pytest.raises(ApplicationError) as exc:
            services.portfolio_update(portfolio=p, user=learner, links=[{"label": "x", "url": bad}])
        assert _field(exc) == "links"
    with pytest.raises(ApplicationError) as exc:
        services.portfolio_update(portfolio=p, user=learner,
                                  links=[f"https://e.com/{i}" for i in range(MAX_LINKS + 1)])
    assert _field(exc) == "links"
    services.portfolio_update(portfolio=p, user=learner, links=["https://example.com/me"])
    assert p.links == [{"label": "example.com", "url": "https://example.com/me"}]


def test_skills_are_normalised_and_capped(learner):
    p = services.portfolio_get_or_create(user=learner)
    project = services.project_create(portfolio=p, user=learner, title="X", skills=["PyTorch", "pytorch ", "Deep  RL"])
    assert project.skills == ["pytorch", "deep rl"]
    with pytest.raises(ApplicationError) as exc:
        services.project_update(project=project, user=learner, skills=[f"s{i}" for i in range(MAX_SKILLS + 1)])
    assert _field(exc) == "skills"
    with pytest.raises(ApplicationError) as exc:
        services.project_update(project=project, user=learner, skills=["x" * 41])
    assert _field(exc) == "skills"
    with pytest.raises(ApplicationError) as exc:
        services.project_update(project=project, user=learner, title="a\x00b")
    assert _field(exc) == "title"


def test_only_own_succeeded_jobs_can_be_attached(labs, learner, other_learner):
    p = services.portfolio_get_or_create(user=learner)
    project = services.project_create(portfolio=p, user=learner, title="X")
    lab = labs["spam-classifier"]
    for job in (make_job(other_learner, lab), make_job(learner, lab, status="failed"),
                make_job(learner, lab, status="running")):
        with pytest.raises(ApplicationError) as exc:
            services.evidence_attach(project=project, user=learner, job_id=job.pk)
        assert _field(exc) == "job"
    for bad_id in ("not-a-uuid", "", None, "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(ApplicationError) as exc:
            services.evidence_attach(project=project, user=learner, job_id=bad_id)
        assert _field(exc) == "job"
    assert project.evidence.count() == 0
    own = make_job(learner, lab)
    evidence = services.evidence_attach(project=project, user=learner, job_id=own.pk)
    assert evidence.job == own
    with pytest.raises(ApplicationError, match="already attached"):
        services.evidence_attach(project=project, user=learner, job_id=own.pk)


def test_someone_else_cannot_edit_a_portfolio(learner, other_learner, hiring_manager, portfolio):
    with pytest.raises(NotFound):
        services.portfolio_update(portfolio=portfolio, user=other_learner, headline="mine now")
    with pytest.raises(PermissionDenied):
        services.portfolio_unpublish(portfolio=portfolio, user=hiring_manager)
    with pytest.raises(PermissionDenied):
        services.shortlist_create(user=learner, name="peek")


def test_publish_needs_a_headline_and_unpublish_hides_at_once(learner, hiring_manager, portfolio):
    assert selectors.portfolio_get_published(public_id=portfolio.public_id) == portfolio
    shortlist = services.shortlist_create(user=hiring_manager, name="ML")
    services.shortlist_entry_add(shortlist=shortlist, user=hiring_manager, public_id=portfolio.public_id,
                                 note="strong")
    services.portfolio_unpublish(portfolio=portfolio, user=learner)
    with pytest.raises(NotFound):
        selectors.portfolio_get_published(public_id=portfolio.public_id)
    assert list(selectors.portfolio_search(selectors.SearchFilters())) == []
    assert list(selectors.shortlist_entries(shortlist)) == []
    assert selectors.shortlist_hidden_count(shortlist) == 1
    with pytest.raises(NotFound):
        services.shortlist_entry_add(shortlist=shortlist, user=hiring_manager, public_id=portfolio.public_id)
    services.portfolio_update(portfolio=portfolio, user=learner, headline="")
    with pytest.raises(ApplicationError) as exc:
        services.portfolio_publish(portfolio=portfolio, user=learner)
    assert _field(exc) == "headline"


def _search(**params):
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return list(selectors.portfolio_search(selectors.search_filters_parse(query)))


def test_search_by_skill_specialization_and_verified_metric(labs, learner, other_learner, portfolio):
    # Omar: published, pytorch too, but a weaker spam run and a high-accuracy run of another lab.
    p = services.portfolio_get_or_create(user=other_learner)
    services.portfolio_update(portfolio=p, user=other_learner, headline="Omar", specialization="researcher")
    project = services.project_create(portfolio=p, user=other_learner, title="Y", skills=["pytorch"])
    services.evidence_attach(project=project, user=other_learner,
                             job_id=make_job(other_learner, labs["spam-classifier"], metrics={"accuracy": 0.90}).pk)
    services.evidence_attach(project=project, user=other_learner,
                             job_id=make_job(other_learner, labs["custom-script"], metrics={"accuracy": 0.99}).pk)
    services.portfolio_publish(portfolio=p, user=other_learner)

    assert set(_search(skill="PyTorch")) == {portfolio, p}
    assert _search(skill=["pytorch", "rag"]) == [portfolio]
    assert _search(skill="pytorch,rag") == [portfolio]
    assert _search(specialization="ML Eng") == [portfolio]
    assert _search(lab="spam-classifier", metric="accuracy", min="0.95") == [portfolio]
    # min and lab must hold on the same result: Omar's 0.99 is from another lab.
    assert set(_search(metric="accuracy", min="0.95")) == {portfolio, p}
    assert _search(lab="spam-classifier", metric="accuracy", max="0.92") == [p]
    assert _search(metric="loss", min="0") == []
    assert _search(skill="nothing-like-it") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min": "abc", "metric": "accuracy"}, "min"),
        ({"min": "nan", "metric": "accuracy"}, "min"),
        ({"max": "1e400", "metric": "accuracy"}, "max"),
        ({"min": "2e12", "metric": "accuracy"}, "min"),
        ({"min": "0.9"}, "metric"),
        ({"metric": "acc uracy"}, "metric"),
        ({"lab": "no-such-lab"}, "lab"),
        ({"lab": "Bad Slug!"}, "lab"),
        ({"skill": "x" * 41}, "skill"),
        ({"skill": ["a", "b", "c", "d", "e", "f"]}, "skill"),
        ({"specialization": "x" * 81}, "specialization"),
        ({"metric": "accuracy", "min": "0.9", "max": "0.5"}, "min"),
    ],
)
def test_out_of_range_filters_name_the_filter(labs, params, field):
    with pytest.raises(ApplicationError) as exc:
        _search(**params)
    assert _field(exc) == field


def test_csv_export_escapes_formulas(learner, hiring_manager, portfolio):
    services.portfolio_update(portfolio=portfolio, user=learner, headline="=HYPERLINK(\"http://evil\")")
    shortlist = services.shortlist_create(user=hiring_manager, name="L")
    services.shortlist_entry_add(shortlist=shortlist, user=hiring_manager, public_id=portfolio.public_id,
                                 note="@SUM(1)")
    rows = selectors.shortlist_csv_rows(shortlist, base_url="https://x.test")
    assert rows[0][0] == "name"
    headline, note = rows[1][1], rows[1][6]
    assert headline == "'=HYPERLINK(\"http://evil\")" and note == "'@SUM(1)"
    assert "spam-classifier: accuracy=0.97, f1=0.93" in rows[1][4]
    for cell in ("+1", "-1", "\tx", "\rx", "=1", "@x"):
        assert selectors.csv_cell(cell).startswith("'")
    assert selectors.csv_cell("plain") == "plain"


def test_portfolio_text_is_sanitized(learner, portfolio):
    services.portfolio_update(portfolio=portfolio, user=learner,
                              bio='<img src=x onerror="alert(1)"> [x](javascript:alert(1)) **ok**')
    html = selectors.portfolio_detail(portfolio)["bio_html"]
    assert "onerror=" not in html and 'href="javascript' not in html and "<strong>ok</strong>" in html


def test_caps_on_shortlists_and_notes(hiring_manager, portfolio):
    shortlist = services.shortlist_create(user=hiring_manager, name="A")
    with pytest.raises(ApplicationError) as exc:
        services.shortlist_entry_add(shortlist=shortlist, user=hiring_manager, public_id=portfolio.public_id,
                                     note="x" * 2001)
    assert _field(exc) == "note"
    with pytest.raises(ApplicationError) as exc:
        services.shortlist_create(user=hiring_manager, name="A")
    assert _field(exc) == "name"


def test_candidates_page_says_none_are_published_yet_or_that_filters_are_too_tight(
    client, labs, learner, hiring_manager, portfolio
):
    client.force_login(hiring_manager)
    services.portfolio_unpublish(portfolio=portfolio, user=learner)
    html = client.get("/portfolios/candidates/").content.decode()
    assert "No learner has published a portfolio yet." in html and "Loosen a filter" not in html
    services.portfolio_publish(portfolio=portfolio, user=learner)
    html = client.get("/portfolios/candidates/?skill=cobol").content.decode()
    assert "Loosen a filter" in html and "No learner has published" not in html
    assert "Spam hunter" in client.get("/portfolios/candidates/").content.decode()
