"""Every portfolios page and API operation, for anonymous, the owner (lena), another learner
(omar), a hiring manager (hana), an author (ada) and staff (sam, a superuser).

Rules: learners keep their own portfolio (someone else's project is a 404); a published
portfolio page is public, an unpublished one a 404 to all but its owner; search and
shortlists need the hiring_manager role (403 otherwise; anonymous: log in / 401), and a
shortlist is a 404 to everyone but the hiring manager who keeps it - staff included.
Each case runs in its own test (fresh database), so writes do not leak between roles.
"""

from __future__ import annotations

import pytest

from apps.portfolios import services
from tests.permission_matrix import LOGIN, api_response, built_once, cases, codes, page_response
from tests.portfolios.conftest import add_artifacts, make_job, published_portfolio

KEEP_OWN = codes(LOGIN, 200, 200, 403, 403, 200)  # "me" pages: everyone keeping a portfolio sees their own
OWNER_OBJ = codes(LOGIN, 200, 404, 403, 403, 404)  # lena's project by id
BROWSE = codes(LOGIN, 403, 403, 200, 403, 200)
HM_OBJ = codes(LOGIN, 403, 403, 200, 403, 404)  # hana's shortlist by id
PUBLIC = codes(200, 200, 200, 200, 200, 200)
HIDDEN = codes(404, 404, 200, 404, 404, 404)  # omar's draft: only omar

PAGES = [
    ("index", "get", "/portfolios/", None, codes(LOGIN, 302, 302, 302, 403, 302)),
    ("mine", "get", "/portfolios/me/", None, KEEP_OWN),
    ("mine-save", "post", "/portfolios/me/", {"headline": "H", "links": "", "bio": "", "specialization": ""},
     codes(LOGIN, 302, 302, 403, 403, 302)),
    ("publish", "post", "/portfolios/me/publish/", None, codes(LOGIN, 302, 302, 403, 403, 302)),
    ("unpublish", "post", "/portfolios/me/unpublish/", None, codes(LOGIN, 302, 302, 403, 403, 302)),
    ("project-new", "get", "/portfolios/me/projects/new/", None, KEEP_OWN),
    ("project", "get", "/portfolios/me/projects/{project}/", None, OWNER_OBJ),
    ("project-save", "post", "/portfolios/me/projects/{project}/", {"title": "T"},
     codes(LOGIN, 302, 404, 403, 403, 404)),
    ("project-delete", "get", "/portfolios/me/projects/{project}/delete/", None, OWNER_OBJ),
    ("project-delete-post", "post", "/portfolios/me/projects/{project}/delete/", None,
     codes(LOGIN, 302, 404, 403, 403, 404)),
    ("evidence-attach", "post", "/portfolios/me/projects/{project}/evidence/", {"job": "{spare_job}"},
     codes(LOGIN, 302, 404, 403, 403, 404)),
    ("evidence-remove", "post", "/portfolios/me/projects/{project}/evidence/{evidence}/remove/", None,
     codes(LOGIN, 302, 404, 403, 403, 404)),
    ("public", "get", "/portfolios/p/{public}/", None, PUBLIC),
    ("public-draft", "get", "/portfolios/p/{draft}/", None, HIDDEN),
    ("public-unknown", "get", "/portfolios/p/00000000-0000-4000-8000-000000000000/", None,
     codes(404, 404, 404, 404, 404, 404)),
    ("image", "get", "/portfolios/p/{public}/results/{evidence}/images/{plot}/", None, PUBLIC),
    ("image-not-an-image", "get", "/portfolios/p/{public}/results/{evidence}/images/{html}/", None,
     codes(404, 404, 404, 404, 404, 404)),
    ("candidates", "get", "/portfolios/candidates/?skill=rag", None, BROWSE),
    ("shortlists", "get", "/portfolios/shortlists/", None, BROWSE),
    ("shortlists-create", "post", "/portfolios/shortlists/", {"name": "New"}, codes(LOGIN, 403, 403, 302, 403, 302)),
    ("shortlist-add", "post", "/portfolios/shortlists/add/", {"portfolio": "{public}", "new_name": "B", "note": "n"},
     codes(LOGIN, 403, 403, 302, 403, 302)),
    ("shortlist", "get", "/portfolios/shortlists/{shortlist}/", None, HM_OBJ),
    ("shortlist-export", "get", "/portfolios/shortlists/{shortlist}/export.csv", None, HM_OBJ),
    ("shortlist-rename", "post", "/portfolios/shortlists/{shortlist}/rename/", {"name": "R"},
     codes(LOGIN, 403, 403, 302, 403, 404)),
    ("shortlist-delete", "get", "/portfolios/shortlists/{shortlist}/delete/", None, HM_OBJ),
    ("shortlist-delete-post", "post", "/portfolios/shortlists/{shortlist}/delete/", None,
     codes(LOGIN, 403, 403, 302, 403, 404)),
    ("entry-note", "post", "/portfolios/shortlists/{shortlist}/entries/{entry}/note/", {"e{entry}-note": "x"},
     codes(LOGIN, 403, 403, 302, 403, 404)),
    ("entry-remove", "post", "/portfolios/shortlists/{shortlist}/entries/{entry}/remove/", None,
     codes(LOGIN, 403, 403, 302, 403, 404)),
]

A = "/api/v1/portfolios"
API_KEEP = codes(401, 200, 200, 403, 403, 200)
API_OWNER_OBJ = codes(401, 200, 404, 403, 403, 404)
API_BROWSE = codes(401, 403, 403, 200, 403, 200)
API_HM_OBJ = codes(401, 403, 403, 200, 403, 404)
APIS = [
    ("me", "get", f"{A}/me/", None, API_KEEP),
    ("me-patch", "patch", f"{A}/me/", {"headline": "New"}, API_KEEP),
    # omar and sam have no headline yet: publishing is refused (400 naming it), not forbidden.
    ("publish", "post", f"{A}/me/publish/", None, codes(401, 200, 400, 403, 403, 400)),
    ("unpublish", "post", f"{A}/me/unpublish/", None, API_KEEP),
    ("projects", "get", f"{A}/me/projects/", None, API_KEEP),
    ("projects-create", "post", f"{A}/me/projects/", {"title": "T", "skills": ["a"]},
     codes(401, 201, 201, 403, 403, 201)),
    ("project", "get", f"{A}/me/projects/{{project}}/", None, API_OWNER_OBJ),
    ("project-patch", "patch", f"{A}/me/projects/{{project}}/", {"title": "T2"}, API_OWNER_OBJ),
    ("project-delete", "delete", f"{A}/me/projects/{{project}}/", None, codes(401, 204, 404, 403, 403, 404)),
    ("evidence-attach", "post", f"{A}/me/projects/{{project}}/evidence/", {"job": "{spare_job}"},
     codes(401, 201, 404, 403, 403, 404)),
    ("evidence-detach", "delete", f"{A}/me/projects/{{project}}/evidence/{{evidence}}/", None,
     codes(401, 204, 404, 403, 403, 404)),
    ("published", "get", f"{A}/published/?skill=rag&metric=accuracy&min=0.9", None, API_BROWSE),
    ("published-one", "get", f"{A}/published/{{public}}/", None, API_BROWSE),
    ("published-draft", "get", f"{A}/published/{{draft}}/", None, codes(401, 403, 403, 404, 403, 404)),
    ("shortlists", "get", f"{A}/shortlists/", None, API_BROWSE),
    ("shortlists-create", "post", f"{A}/shortlists/", {"name": "New"}, codes(401, 403, 403, 201, 403, 201)),
    ("shortlist", "get", f"{A}/shortlists/{{shortlist}}/", None, API_HM_OBJ),
    ("shortlist-patch", "patch", f"{A}/shortlists/{{shortlist}}/", {"name": "R"}, API_HM_OBJ),
    ("shortlist-delete", "delete", f"{A}/shortlists/{{shortlist}}/", None, codes(401, 403, 403, 204, 403, 404)),
    ("entries-add", "post", f"{A}/shortlists/{{shortlist}}/entries/", {"portfolio": "{public}"},
     codes(401, 403, 403, 201, 403, 404)),
    ("entry-patch", "patch", f"{A}/shortlists/{{shortlist}}/entries/{{entry}}/", {"note": "x"}, API_HM_OBJ),
    ("entry-delete", "delete", f"{A}/shortlists/{{shortlist}}/entries/{{entry}}/", None,
     codes(401, 403, 403, 204, 403, 404)),
]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from apps.labs.models import Lab
    from apps.labs.services import lab_catalog_sync

    with built_once(django_db_blocker) as users:
        lab_catalog_sync()
        spam = Lab.objects.get(slug="spam-classifier")
        learner, hiring_manager = users["owner"], users["hm"]
        portfolio = published_portfolio(learner, make_job(learner, spam))
        project = portfolio.projects.get()
        evidence = project.evidence.get()
        plot, html = add_artifacts(evidence.job)
        draft = services.portfolio_get_or_create(user=users["other"])  # omar's, never published
        shortlist = services.shortlist_create(user=hiring_manager, name="ML")
        entry = services.shortlist_entry_add(shortlist=shortlist, user=hiring_manager, public_id=portfolio.public_id,
                                             note="secret note")
        spare = make_job(learner, spam)
        yield {"project": project.pk, "evidence": evidence.pk, "public": portfolio.public_id,
               "draft": draft.public_id, "plot": plot.pk, "html": html.pk, "shortlist": shortlist.pk, "entry": entry.pk,
               "spare_job": spare.pk}, users


@pytest.mark.parametrize(("case", "role"), cases(PAGES))
def test_page_permissions(db, world, case, role):
    response = page_response(world, case, role)
    if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
        # Hiring managers' notes never reach anyone else's screen.
        assert ("secret note" in response.content.decode()) == (role == "hm" and case[0] in ("shortlist", "public"))


@pytest.mark.parametrize(("case", "role"), cases(APIS))
def test_api_permissions(db, world, case, role):
    response = api_response(world, case, role)
    if role != "hm":
        assert b"secret note" not in response.content
