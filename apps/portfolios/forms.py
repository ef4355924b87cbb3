"""Forms for the portfolio pages. They shape input; the services decide what is allowed."""

from __future__ import annotations

from django import forms

from apps.portfolios.models import MAX_BIO_CHARS, MAX_LINKS, MAX_NOTE_CHARS, MAX_SUMMARY_CHARS


class PortfolioForm(forms.Form):
    headline = forms.CharField(
        max_length=120,
        required=False,
        help_text='One line people read first, e.g. "ML engineer who ships RAG systems".',
    )
    specialization = forms.CharField(
        max_length=80,
        required=False,
        help_text="A career role (pick from the list) or your own words.",
        widget=forms.TextInput(attrs={"list": "role-options", "autocomplete": "off"}),
    )
    links = forms.CharField(
        required=False,
        max_length=MAX_LINKS * 400,
        help_text=f'One per line, up to {MAX_LINKS}: "GitHub | https://github.com/you" or just the address.',
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    bio = forms.CharField(
        required=False, max_length=MAX_BIO_CHARS, help_text="Markdown.", widget=forms.Textarea(attrs={"rows": 8})
    )

    def links_list(self) -> list[dict[str, str]]:
        items = []
        for line in self.cleaned_data.get("links", "").splitlines():
            line = line.strip()
            if not line:
                continue
            label, _sep, url = line.rpartition("|") if "|" in line else ("", "", line)
            items.append({"label": label.strip(), "url": url.strip()})
        return items

    @staticmethod
    def links_text(links: list[dict[str, str]]) -> str:
        return "\n".join(f"{link['label']} | {link['url']}" if link.get("label") else link["url"] for link in links)


class ProjectForm(forms.Form):
    title = forms.CharField(max_length=120)
    summary = forms.CharField(
        required=False,
        max_length=MAX_SUMMARY_CHARS,
        help_text="Markdown: what you built and what you learned.",
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    skills = forms.CharField(
        required=False,
        max_length=600,
        help_text="Comma separated, e.g. pytorch, rag, evaluation. Hiring managers search these.",
    )
    position = forms.IntegerField(
        required=False, min_value=0, max_value=32767, help_text="Order on your page (0 first)."
    )


class EvidenceForm(forms.Form):
    job = forms.ChoiceField(label="Lab run", help_text="Only your own runs that succeeded can be attached.")

    def __init__(self, *args, jobs=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["job"].choices = [(str(job.pk), evidence_job_label(job)) for job in jobs]


def evidence_job_label(job) -> str:
    """How a run reads in the picker: which lab, when it finished, and whether it met its target,
    so a learner picks the run worth showing without opening each one."""
    parts = [job.lab.title]
    if job.finished_at:
        parts.append(f"finished {job.finished_at:%Y-%m-%d %H:%M} UTC")
    passed = (job.grade or {}).get("passed")
    if passed is True:
        parts.append("target met")
    elif passed is False:
        parts.append("target missed")
    return " · ".join(parts)


class ShortlistForm(forms.Form):
    name = forms.CharField(max_length=80)


class ShortlistAddForm(forms.Form):
    portfolio = forms.UUIDField(widget=forms.HiddenInput)
    shortlist = forms.TypedChoiceField(coerce=int, required=False, label="Shortlist")
    new_name = forms.CharField(max_length=80, required=False, label="Or a new shortlist")
    note = forms.CharField(
        max_length=MAX_NOTE_CHARS,
        required=False,
        label="Private note",
        help_text="Only you see it.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, shortlists=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shortlist"].choices = [("", "New shortlist...")] + [(s.pk, s.name) for s in shortlists]

    def clean(self):
        data = super().clean()
        if not data.get("shortlist") and not (data.get("new_name") or "").strip():
            self.add_error("new_name", "Pick a shortlist or name a new one.")
        return data


class NoteForm(forms.Form):
    note = forms.CharField(
        max_length=MAX_NOTE_CHARS, required=False, label="Private note", widget=forms.Textarea(attrs={"rows": 3})
    )
