"""Reads for portfolios: who may do what, a portfolio as a page shows it, search, shortlists.

Visibility, in one place:
- a published portfolio is public (anyone with its link; it is meant to be shared), and
  searchable by holders of ``portfolios.browse_portfolios`` (the hiring_manager role);
- an unpublished one exists only for its owner: to everyone else, hiring managers who
  shortlisted it included, it is a 404, like an id that never existed;
- shortlists and their notes exist only for the hiring manager who keeps them.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.urls import NoReverseMatch, reverse

from apps.core.errors import ApplicationError, NotFound, PermissionDenied
from apps.labs.models import LabJob
from apps.portfolios.models import MAX_SKILL_CHARS, Portfolio, Project, ProjectEvidence, Shortlist, ShortlistEntry

KEEP_PERMISSION = "portfolios.keep_portfolio"
BROWSE_PERMISSION = "portfolios.browse_portfolios"
NOT_FOUND = "There is no such portfolio."

# Search filter bounds: a metric value is a finite number of sensible size; more is a typo.
METRIC_VALUE_LIMIT = 1e12
MAX_SEARCH_SKILLS = 5
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_LAB_SLUG = re.compile(r"^[a-z0-9\-]{1,64}$")


# --- permissions --------------------------------------------------------------------------


def portfolio_can_keep(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.has_perm(KEEP_PERMISSION))


def portfolio_can_browse(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.has_perm(BROWSE_PERMISSION))


def require_keeper(user: Any) -> None:
    if not portfolio_can_keep(user):
        raise PermissionDenied("Portfolios are for learners: this account cannot keep one.")


def require_browser(user: Any) -> None:
    if not portfolio_can_browse(user):
        raise PermissionDenied("Searching portfolios and keeping shortlists needs the hiring manager role.")


# --- one portfolio ------------------------------------------------------------------------


def portfolio_for_owner(*, user: Any) -> Portfolio | None:
    return Portfolio.objects.filter(user=user).first()


def _uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(NOT_FOUND) from None


def portfolio_get_visible(*, public_id: Any, user: Any) -> Portfolio:
    """A published portfolio for anyone; an unpublished one for its owner only (a preview)."""
    portfolio = Portfolio.objects.select_related("user").filter(public_id=_uuid(public_id)).first()
    if portfolio is None:
        raise NotFound(NOT_FOUND)
    if portfolio.is_published or (getattr(user, "is_authenticated", False) and portfolio.user_id == user.id):
        return portfolio
    raise NotFound(NOT_FOUND)


def portfolio_get_published(*, public_id: Any) -> Portfolio:
    portfolio = Portfolio.objects.select_related("user").filter(public_id=_uuid(public_id), is_published=True).first()
    if portfolio is None:
        raise NotFound(NOT_FOUND)
    return portfolio


def project_get_own(*, user: Any, project_id: int) -> Project:
    project = Project.objects.select_related("portfolio").filter(pk=project_id, portfolio__user=user).first()
    if project is None:
        raise NotFound("There is no such project in your portfolio.")
    return project


def evidence_get_own(*, project: Project, evidence_id: int) -> ProjectEvidence:
    evidence = project.evidence.filter(pk=evidence_id).first()
    if evidence is None:
        raise NotFound("There is no such result on this project.")
    return evidence


def evidence_image_artifact(*, portfolio: Portfolio, evidence_id: int, artifact_id: int) -> Any:
    """An image file of a result attached to this portfolio (checked from its bytes at upload)."""
    evidence = ProjectEvidence.objects.filter(pk=evidence_id, project__portfolio=portfolio).first()
    if evidence is None:
        return None
    return evidence.job.artifacts.filter(pk=artifact_id).exclude(image_type="").first()


def evidence_candidate_jobs(*, user: Any) -> QuerySet[LabJob]:
    """The learner's own succeeded runs that still have their files: the only ones a project
    may attach (``evidence_attach`` refuses the others)."""
    return (
        LabJob.objects.filter(owner=user, status=LabJob.Status.SUCCEEDED)
        .exclude(artifacts__file="")
        .select_related("lab")
        .order_by("-finished_at")[:50]
    )


def specialization_labels(values: set[str]) -> dict[str, str]:
    """Each value that is a career Role's slug -> the role's title (one query)."""
    from django.apps import apps

    values = {v for v in values if v}
    try:
        role_model = apps.get_model("career", "Role")
    except LookupError:
        return {}
    if not values:
        return {}
    return dict(role_model.objects.filter(slug__in=values).values_list("slug", "title"))


def specialization_label(value: str) -> str:
    """A career Role's title when ``value`` is its slug, else the text as written."""
    return specialization_labels({value}).get(value, value)


def credential_info(job: LabJob) -> dict[str, Any]:
    """The credential a job's result was issued as: status and a link anyone can check.

    Called through the credentials app's contract, imported here so portfolios work (with
    "credential pending") while that app is absent.
    """
    try:
        from apps.credentials.selectors import credential_for_job
    except ImportError:
        return {"status": "pending", "id": None, "verify_url": None}
    credential = credential_for_job(job)
    if credential is None:
        # No live credential: withdrawn (or revoked by staff) if one was issued, else pending.
        withdrawn = hasattr(job, "credentials") and job.credentials.filter(revoked_at__isnull=False).exists()
        return {"status": "revoked" if withdrawn else "pending", "id": None, "verify_url": None}
    status = "revoked" if getattr(credential, "revoked_at", None) else "issued"
    return {"status": status, "id": str(credential.pk), "verify_url": _verify_url(credential)}


def _verify_url(credential: Any) -> str | None:
    for name in ("credentials:verify-id", "credentials:detail"):
        try:
            return reverse(name, args=[credential.pk])
        except NoReverseMatch:
            continue
    try:
        return f"{reverse('credentials:verify')}?id={credential.pk}"
    except NoReverseMatch:
        return None


def _param_rows(job: LabJob) -> list[dict[str, str]]:
    """Parameters as short text: a learner's whole script is summarised, not printed."""
    rows = []
    labels = {spec.get("name"): spec.get("label") or spec.get("name") for spec in job.lab.param_schema}
    for name, value in (job.params or {}).items():
        text = value if isinstance(value, str) else repr(value)
        if isinstance(value, str) and ("\n" in value or len(value) > 80):
            text = f"({value.count(chr(10)) + 1} lines, {len(value):,} characters)"
        rows.append({"name": labels.get(name, name), "value": text})
    return rows


def evidence_data(evidence: ProjectEvidence, *, portfolio: Portfolio) -> dict[str, Any]:
    job = evidence.job
    artifacts = []
    for artifact in job.artifacts.order_by("name"):
        item = {
            "id": artifact.pk,
            "name": artifact.name,
            "size": artifact.size,
            "sha256": artifact.sha256,
            "image_url": None,
        }
        if artifact.image_type:
            item["image_url"] = reverse(
                "portfolios:evidence-image", args=[portfolio.public_id, evidence.pk, artifact.pk]
            )
        artifacts.append(item)
    return {
        "id": evidence.pk,
        "job_id": str(job.pk),
        "lab": job.lab.slug,
        "lab_title": job.lab.title,
        "metrics": job.metrics or {},
        "params": _param_rows(job),
        "grade": job.grade or {},
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "evidence_sha256": job.evidence_sha256,
        "artifacts": artifacts,
        "credential": credential_info(job),
    }


def portfolio_detail(portfolio: Portfolio) -> dict[str, Any]:
    """Everything a portfolio page (or the API) shows, bio and summaries rendered sanitized."""
    from apps.curriculum.markdown import glossary_index, render_markdown

    index = glossary_index()
    projects = []
    for project in portfolio.projects.prefetch_related("evidence__job__lab", "evidence__job__artifacts"):
        projects.append(
            {
                "id": project.pk,
                "title": project.title,
                "summary": project.summary,
                "summary_html": render_markdown(project.summary, link_terms=False, index=index).html
                if project.summary
                else "",
                "skills": project.skills,
                "position": project.position,
                "evidence": [evidence_data(e, portfolio=portfolio) for e in project.evidence.all()],
            }
        )
    skills = sorted({skill for project in projects for skill in project["skills"]})
    return {
        "public_id": str(portfolio.public_id),
        "name": str(portfolio.user),
        "headline": portfolio.headline,
        "specialization": portfolio.specialization,
        "specialization_label": specialization_label(portfolio.specialization),
        "links": portfolio.links,
        "bio": portfolio.bio,
        "bio_html": render_markdown(portfolio.bio, link_terms=False, index=index).html if portfolio.bio else "",
        "is_published": portfolio.is_published,
        "published_at": portfolio.published_at,
        "skills": skills,
        "projects": projects,
    }


# --- search -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    skills: tuple[str, ...] = ()
    specialization: str = ""
    lab: str = ""
    metric: str = ""
    min: float | None = None
    max: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.skills or self.specialization or self.lab or self.metric)


def _number(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ApplicationError(f"{name} must be a number, e.g. 0.95 (got {raw[:20]!r}).", field=name) from None
    if not math.isfinite(value) or abs(value) > METRIC_VALUE_LIMIT:
        raise ApplicationError(f"{name} must be a finite number between -1e12 and 1e12.", field=name)
    return value


def search_filters_parse(params: Any) -> SearchFilters:
    """Query parameters -> filters; anything out of range is a 400 naming the filter."""
    getlist = getattr(params, "getlist", None)
    raw_skills = getlist("skill") if getlist else ([params["skill"]] if params.get("skill") else [])
    skills = []
    for raw in (part for value in raw_skills for part in str(value).split(",")):
        skill = " ".join(raw.split()).lower()
        if not skill:
            continue
        if len(skill) > MAX_SKILL_CHARS or "\x00" in skill:
            raise ApplicationError(f"A skill is at most {MAX_SKILL_CHARS} characters.", field="skill")
        if skill not in skills:
            skills.append(skill)
    if len(skills) > MAX_SEARCH_SKILLS:
        raise ApplicationError(f"Search for at most {MAX_SEARCH_SKILLS} skills at once.", field="skill")
    specialization = " ".join(str(params.get("specialization", "")).split())
    if len(specialization) > 80 or "\x00" in specialization:
        raise ApplicationError("specialization is at most 80 characters.", field="specialization")
    lab = str(params.get("lab", "")).strip()
    if lab:
        if not _LAB_SLUG.match(lab):
            raise ApplicationError("lab must be a lab's slug, e.g. spam-classifier.", field="lab")
        from apps.labs.models import Lab

        if not Lab.objects.filter(slug=lab).exists():
            raise ApplicationError(f"There is no lab called {lab!r}.", field="lab")
    metric = str(params.get("metric", "")).strip()
    if metric and not _METRIC_NAME.match(metric):
        raise ApplicationError("metric must be a metric's name, e.g. accuracy.", field="metric")
    low = _number(str(params["min"]), "min") if str(params.get("min", "")).strip() else None
    high = _number(str(params["max"]), "max") if str(params.get("max", "")).strip() else None
    if (low is not None or high is not None) and not metric:
        raise ApplicationError("Name the metric that min/max apply to, e.g. metric=accuracy.", field="metric")
    if low is not None and high is not None and low > high:
        raise ApplicationError("min is larger than max: nothing can match.", field="min")
    return SearchFilters(skills=tuple(skills), specialization=specialization, lab=lab, metric=metric, min=low, max=high)


def _withdrawn_jobs() -> QuerySet | None:
    """Jobs whose every credential was revoked (the learner withdrew the result), if the
    credentials app is installed: such a result no longer counts as verified."""
    from django.apps import apps

    try:
        credential_model = apps.get_model("credentials", "Credential")
    except LookupError:
        return None
    live = credential_model.objects.filter(job=OuterRef("pk"), revoked_at__isnull=True)
    revoked = credential_model.objects.filter(job=OuterRef("pk"), revoked_at__isnull=False)
    return LabJob.objects.filter(Exists(revoked) & ~Exists(live)).values("pk")


def portfolio_search(filters: SearchFilters) -> QuerySet[Portfolio]:
    """Published portfolios matching every filter, most recently published first."""
    qs = Portfolio.objects.filter(is_published=True).select_related("user")
    for skill in filters.skills:
        qs = qs.filter(Exists(Project.objects.filter(portfolio=OuterRef("pk"), skills__contains=[skill])))
    if filters.specialization:
        qs = qs.filter(specialization__icontains=filters.specialization)
    if filters.lab or filters.metric:
        # One evidence row must satisfy lab, metric and bounds together.
        evidence = ProjectEvidence.objects.filter(project__portfolio=OuterRef("pk"))
        if filters.lab:
            evidence = evidence.filter(job__lab__slug=filters.lab)
        if filters.metric:
            key = f"job__metrics__{filters.metric}"
            evidence = evidence.filter(**{f"{key}__isnull": False})
            if filters.min is not None:
                evidence = evidence.filter(**{f"{key}__gte": filters.min})
            if filters.max is not None:
                evidence = evidence.filter(**{f"{key}__lte": filters.max})
        withdrawn = _withdrawn_jobs()
        if withdrawn is not None:
            evidence = evidence.exclude(job__in=withdrawn)
        qs = qs.filter(Exists(evidence))
    return qs.order_by("-published_at", "-id")


def portfolio_cards(portfolios: list[Portfolio]) -> list[dict[str, Any]]:
    """What a search result shows: headline, specialization, skills, verified results.

    A fixed number of queries for the whole page, however many cards it holds.
    """
    ids = [p.pk for p in portfolios]
    skills: dict[int, set[str]] = {}
    for portfolio_id, project_skills in Project.objects.filter(portfolio_id__in=ids).values_list(
        "portfolio_id", "skills"
    ):
        skills.setdefault(portfolio_id, set()).update(project_skills)
    results: dict[int, list[dict[str, Any]]] = {}
    evidence_rows = ProjectEvidence.objects.filter(project__portfolio_id__in=ids).select_related("job__lab", "project")
    for evidence in evidence_rows:
        results.setdefault(evidence.project.portfolio_id, []).append(
            {"lab": evidence.job.lab.slug, "lab_title": evidence.job.lab.title, "metrics": evidence.job.metrics}
        )
    labels = specialization_labels({p.specialization for p in portfolios})
    return [
        {
            "public_id": str(p.public_id),
            "name": str(p.user),
            "headline": p.headline,
            "specialization": p.specialization,
            "specialization_label": labels.get(p.specialization, p.specialization),
            "skills": sorted(skills.get(p.pk, ())),
            "verified_results": results.get(p.pk, []),
            "published_at": p.published_at,
        }
        for p in portfolios
    ]


# --- shortlists ---------------------------------------------------------------------------


def shortlist_list(*, user: Any) -> QuerySet[Shortlist]:
    return Shortlist.objects.filter(owner=user).order_by("name", "id")


def shortlist_get(*, user: Any, shortlist_id: int) -> Shortlist:
    shortlist = Shortlist.objects.filter(pk=shortlist_id, owner=user).first()
    if shortlist is None:
        raise NotFound("There is no such shortlist.")
    return shortlist


def shortlist_entry_get(*, shortlist: Shortlist, entry_id: int) -> ShortlistEntry:
    entry = shortlist.entries.select_related("portfolio").filter(pk=entry_id, portfolio__is_published=True).first()
    if entry is None:
        raise NotFound("There is no such entry on this shortlist.")
    return entry


def shortlist_entries(shortlist: Shortlist) -> QuerySet[ShortlistEntry]:
    """Entries whose portfolio is published now: unpublishing hides it here at once."""
    return (
        shortlist.entries.filter(portfolio__is_published=True)
        .select_related("portfolio__user")
        .order_by("added_at", "id")
    )


def shortlist_hidden_count(shortlist: Shortlist) -> int:
    return shortlist.entries.filter(portfolio__is_published=False).count()


def shortlists_holding(*, user: Any, portfolio: Portfolio) -> QuerySet[ShortlistEntry]:
    return ShortlistEntry.objects.filter(shortlist__owner=user, portfolio=portfolio).select_related("shortlist")


# Cells a spreadsheet would run as a formula (CSV injection): =, +, -, @, tab, CR.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def shortlist_csv_rows(shortlist: Shortlist, *, base_url: str) -> list[list[str]]:
    """The shortlist as rows for a CSV file: header first, published portfolios only."""
    rows = [["name", "headline", "specialization", "skills", "verified results", "portfolio url", "note", "added"]]
    entries = list(shortlist_entries(shortlist))
    cards = {c["public_id"]: c for c in portfolio_cards([e.portfolio for e in entries])}
    for entry in entries:
        card = cards[str(entry.portfolio.public_id)]
        results = "; ".join(
            f"{r['lab']}: " + ", ".join(f"{k}={v}" for k, v in sorted((r["metrics"] or {}).items()))
            for r in card["verified_results"]
        )
        url = base_url + reverse("portfolios:public", args=[entry.portfolio.public_id])
        rows.append(
            [
                csv_cell(v)
                for v in (
                    card["name"],
                    card["headline"],
                    card["specialization_label"],
                    ", ".join(card["skills"]),
                    results,
                    url,
                    entry.note,
                    entry.added_at.date().isoformat(),
                )
            ]
        )
    return rows
