"""Writes for portfolios and shortlists. Every function checks who asks (the last line,
whatever the caller) and refuses bad input with ``ApplicationError(field=...)``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, NotFound
from apps.core.validation import check_integer, check_length, reject_nul
from apps.labs.models import LabJob
from apps.portfolios.models import (
    MAX_BIO_CHARS,
    MAX_EVIDENCE_PER_PROJECT,
    MAX_LINK_LABEL_CHARS,
    MAX_LINKS,
    MAX_NOTE_CHARS,
    MAX_PROJECTS,
    MAX_SHORTLIST_ENTRIES,
    MAX_SHORTLISTS,
    MAX_SKILL_CHARS,
    MAX_SKILLS,
    MAX_SUMMARY_CHARS,
    MAX_URL_CHARS,
    Portfolio,
    Project,
    ProjectEvidence,
    Shortlist,
    ShortlistEntry,
)
from apps.portfolios.selectors import portfolio_get_published, require_browser, require_keeper

_URL = URLValidator(schemes=["http", "https"])


# --- input checks -------------------------------------------------------------------------


def _text(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApplicationError("Give text.", field=field)
    reject_nul(value, field)
    value = value.strip()
    if len(value) > limit:
        raise ApplicationError(f"Keep this under {limit:,} characters (it has {len(value):,}).", field=field)
    return value


def _markdown(value: Any, field: str, limit: int) -> str:
    text = _text(value, field, limit)
    if text:
        from apps.curriculum.markdown import UnrenderableBody, check_renderable

        try:
            check_renderable(text)
        except UnrenderableBody as exc:
            raise ApplicationError(str(exc), field=field) from None
    return text


def links_clean(value: Any) -> list[dict[str, str]]:
    """``[{"label", "url"}]``: http(s) URLs only (no javascript:, data:...), at most MAX_LINKS."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApplicationError('links must be a list of {"label", "url"} objects.', field="links")
    if len(value) > MAX_LINKS:
        raise ApplicationError(f"Add at most {MAX_LINKS} links.", field="links")
    cleaned = []
    for item in value:
        if isinstance(item, str):
            item = {"label": "", "url": item}
        if not isinstance(item, dict) or set(item) - {"label", "url"}:
            raise ApplicationError('Each link is an object {"label", "url"}.', field="links")
        url = _text(item.get("url"), "links", MAX_URL_CHARS)
        label = _text(item.get("label"), "links", MAX_LINK_LABEL_CHARS)
        try:
            _URL(url)
        except DjangoValidationError:
            raise ApplicationError(f"{url[:60]!r} is not an http(s) address.", field="links") from None
        cleaned.append({"label": label or urlsplit(url).hostname or url, "url": url})
    return cleaned


def skills_clean(value: Any) -> list[str]:
    """Lower-case, single-spaced, unique, at most MAX_SKILLS: what search matches exactly."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise ApplicationError('skills must be a list of words, e.g. ["pytorch", "rag"].', field="skills")
    skills: list[str] = []
    for raw in value:
        if not isinstance(raw, str):
            raise ApplicationError("Each skill is text.", field="skills")
        reject_nul(raw, "skills")
        skill = " ".join(raw.split()).lower()
        if not skill:
            continue
        if len(skill) > MAX_SKILL_CHARS:
            raise ApplicationError(
                f"A skill is at most {MAX_SKILL_CHARS} characters: {skill[:20]!r}...", field="skills"
            )
        if skill not in skills:
            skills.append(skill)
    if len(skills) > MAX_SKILLS:
        raise ApplicationError(f"List at most {MAX_SKILLS} skills per project.", field="skills")
    return skills


def _owner_check(portfolio: Portfolio, user: Any) -> None:
    require_keeper(user)
    if portfolio.user_id != user.id:
        raise NotFound("There is no such portfolio.")


# --- portfolio ----------------------------------------------------------------------------


def portfolio_get_or_create(*, user: Any) -> Portfolio:
    """The learner's portfolio, created empty and unpublished on first use."""
    require_keeper(user)
    portfolio, _ = Portfolio.objects.get_or_create(user=user)
    return portfolio


def portfolio_update(*, portfolio: Portfolio, user: Any, **fields: Any) -> Portfolio:
    """Change any of headline, specialization, links, bio (fields left out stay)."""
    _owner_check(portfolio, user)
    unknown = set(fields) - {"headline", "specialization", "links", "bio"}
    if unknown:
        raise ApplicationError(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    if "headline" in fields:
        portfolio.headline = _text(fields["headline"], "headline", 120)
        check_length(Portfolio, "headline", portfolio.headline)
    if "specialization" in fields:
        portfolio.specialization = _text(fields["specialization"], "specialization", 80)
    if "links" in fields:
        portfolio.links = links_clean(fields["links"])
    if "bio" in fields:
        portfolio.bio = _markdown(fields["bio"], "bio", MAX_BIO_CHARS)
    portfolio.save()
    return portfolio


def portfolio_publish(*, portfolio: Portfolio, user: Any) -> Portfolio:
    """Public from now on: its page, search, shortlists. Issues any credential still pending."""
    _owner_check(portfolio, user)
    if not portfolio.headline:
        raise ApplicationError(
            "Write a headline before publishing: it is the first thing people read.", field="headline"
        )
    for evidence in ProjectEvidence.objects.filter(project__portfolio=portfolio).select_related("job"):
        # Only results never issued: a credential the learner withdrew stays withdrawn.
        if not (hasattr(evidence.job, "credentials") and evidence.job.credentials.exists()):
            _issue_credential(evidence.job, user)
    # A conditional UPDATE: effective at once for every reader, whatever they cached.
    Portfolio.objects.filter(pk=portfolio.pk).update(is_published=True, published_at=timezone.now())
    portfolio.refresh_from_db()
    return portfolio


def portfolio_unpublish(*, portfolio: Portfolio, user: Any) -> Portfolio:
    """Private again at once: its page, the API, search and shortlists all answer 404."""
    _owner_check(portfolio, user)
    Portfolio.objects.filter(pk=portfolio.pk).update(is_published=False)
    portfolio.refresh_from_db()
    return portfolio


# --- projects -----------------------------------------------------------------------------


def project_create(
    *, portfolio: Portfolio, user: Any, title: Any, summary: Any = "", skills: Any = None, position: Any = None
) -> Project:
    _owner_check(portfolio, user)
    title = _text(title, "title", 120)
    if not title:
        raise ApplicationError("Give the project a title.", field="title")
    with transaction.atomic():
        # Locks the portfolio row so two requests cannot both pass the cap.
        Portfolio.objects.select_for_update().get(pk=portfolio.pk)
        count = portfolio.projects.count()
        if count >= MAX_PROJECTS:
            raise ApplicationError(f"A portfolio holds at most {MAX_PROJECTS} projects.", field="title")
        if position is None:
            position = count
        check_integer(Project, "position", position)
        return Project.objects.create(
            portfolio=portfolio,
            title=title,
            summary=_markdown(summary, "summary", MAX_SUMMARY_CHARS),
            skills=skills_clean(skills),
            position=position,
        )


def project_update(*, project: Project, user: Any, **fields: Any) -> Project:
    _owner_check(project.portfolio, user)
    unknown = set(fields) - {"title", "summary", "skills", "position"}
    if unknown:
        raise ApplicationError(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    if "title" in fields:
        title = _text(fields["title"], "title", 120)
        if not title:
            raise ApplicationError("Give the project a title.", field="title")
        project.title = title
    if "summary" in fields:
        project.summary = _markdown(fields["summary"], "summary", MAX_SUMMARY_CHARS)
    if "skills" in fields:
        project.skills = skills_clean(fields["skills"])
    if "position" in fields:
        check_integer(Project, "position", fields["position"])
        project.position = fields["position"]
    project.save()
    return project


def project_delete(*, project: Project, user: Any) -> None:
    _owner_check(project.portfolio, user)
    project.delete()


# --- evidence -----------------------------------------------------------------------------


def _issue_credential(job: LabJob, user: Any) -> Any:
    """Issue (idempotently) the job's credential through the credentials app's contract;
    None while that app is not installed (the page then says "credential pending")."""
    try:
        from apps.credentials.services import credential_issue
    except ImportError:
        return None
    return credential_issue(job=job, user=user)


def evidence_attach(*, project: Project, user: Any, job_id: Any) -> ProjectEvidence:
    """Attach one of the learner's own succeeded runs and issue its credential.

    Someone else's job, an unknown id and a run that did not succeed are all refused the
    same way (400 on ``job``), so the answer never says whether another learner's job exists.
    """
    _owner_check(project.portfolio, user)
    job = None
    if job_id not in (None, ""):
        try:
            job = LabJob.objects.select_related("lab").filter(pk=job_id, owner=user).first()
        except (ValueError, DjangoValidationError):
            job = None
    if job is None or job.status != LabJob.Status.SUCCEEDED:
        raise ApplicationError("Pick one of your own lab runs that succeeded.", field="job")
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)
        # Locked against lab_job_files_delete: evidence is shown with its files.
        LabJob.objects.select_for_update().filter(pk=job.pk).first()
        if job.artifacts.filter(file="").exists():
            raise ApplicationError(
                "You deleted this run's files, so it can no longer be shown in full: pick another run, "
                "or run the lab again with the same settings.",
                field="job",
            )
        if project.evidence.filter(job=job).exists():
            raise ApplicationError("This run is already attached to this project.", field="job")
        if project.evidence.count() >= MAX_EVIDENCE_PER_PROJECT:
            raise ApplicationError(f"A project holds at most {MAX_EVIDENCE_PER_PROJECT} results.", field="job")
        evidence = ProjectEvidence.objects.create(project=project, job=job)
        _issue_credential(job, user)
    return evidence


def evidence_detach(*, evidence: ProjectEvidence, user: Any) -> None:
    """Removes the result from the project; its credential stays valid (withdraw it on the job page)."""
    _owner_check(evidence.project.portfolio, user)
    evidence.delete()


# --- shortlists ---------------------------------------------------------------------------


def _own_shortlist(shortlist: Shortlist, user: Any) -> None:
    require_browser(user)
    if shortlist.owner_id != user.id:
        raise NotFound("There is no such shortlist.")


def shortlist_create(*, user: Any, name: Any) -> Shortlist:
    require_browser(user)
    name = _text(name, "name", 80)
    if not name:
        raise ApplicationError("Give the shortlist a name.", field="name")
    with transaction.atomic():
        if Shortlist.objects.filter(owner=user).count() >= MAX_SHORTLISTS:
            raise ApplicationError(f"Keep at most {MAX_SHORTLISTS} shortlists.", field="name")
        if Shortlist.objects.filter(owner=user, name=name).exists():
            raise ApplicationError(f"You already have a shortlist called {name!r}.", field="name")
        try:
            with transaction.atomic():
                return Shortlist.objects.create(owner=user, name=name)
        except IntegrityError:
            raise ApplicationError(f"You already have a shortlist called {name!r}.", field="name") from None


def shortlist_rename(*, shortlist: Shortlist, user: Any, name: Any) -> Shortlist:
    _own_shortlist(shortlist, user)
    name = _text(name, "name", 80)
    if not name:
        raise ApplicationError("Give the shortlist a name.", field="name")
    if Shortlist.objects.filter(owner=user, name=name).exclude(pk=shortlist.pk).exists():
        raise ApplicationError(f"You already have a shortlist called {name!r}.", field="name")
    shortlist.name = name
    shortlist.save(update_fields=["name", "updated_at"])
    return shortlist


def shortlist_delete(*, shortlist: Shortlist, user: Any) -> None:
    _own_shortlist(shortlist, user)
    shortlist.delete()


def shortlist_entry_add(*, shortlist: Shortlist, user: Any, public_id: Any, note: Any = "") -> ShortlistEntry:
    """Shortlist a published portfolio (again: updates the note). Unpublished -> 404."""
    _own_shortlist(shortlist, user)
    note = _text(note, "note", MAX_NOTE_CHARS)
    try:
        portfolio = portfolio_get_published(public_id=public_id)
    except (ValueError, DjangoValidationError):
        raise NotFound("There is no such portfolio.") from None
    with transaction.atomic():
        Shortlist.objects.select_for_update().get(pk=shortlist.pk)
        entry = shortlist.entries.filter(portfolio=portfolio).first()
        if entry is not None:
            if note:
                entry.note = note
                entry.save(update_fields=["note", "updated_at"])
            return entry
        if shortlist.entries.count() >= MAX_SHORTLIST_ENTRIES:
            raise ApplicationError(f"A shortlist holds at most {MAX_SHORTLIST_ENTRIES} portfolios.", field="portfolio")
        return ShortlistEntry.objects.create(shortlist=shortlist, portfolio=portfolio, note=note)


def shortlist_entry_update(*, entry: ShortlistEntry, user: Any, note: Any) -> ShortlistEntry:
    _own_shortlist(entry.shortlist, user)
    if not entry.portfolio.is_published:
        raise NotFound("There is no such entry on this shortlist.")
    entry.note = _text(note, "note", MAX_NOTE_CHARS)
    entry.save(update_fields=["note", "updated_at"])
    return entry


def shortlist_entry_remove(*, entry: ShortlistEntry, user: Any) -> None:
    _own_shortlist(entry.shortlist, user)
    entry.delete()
