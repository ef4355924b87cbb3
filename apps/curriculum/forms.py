"""Forms for the pages: they validate input; services do the work."""

from __future__ import annotations

from django import forms

from apps.core.validation import integer_bounds
from apps.curriculum.models import Article, Resource, Section, Topic, TopicProgress, slug_validator


class TopicProgressForm(forms.Form):
    status = forms.ChoiceField(choices=TopicProgress.Status.choices)


class ResourceFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "All kinds"), *Resource.Kind.choices], required=False)
    cost = forms.ChoiceField(choices=[("", "Free and paid"), *Resource.Cost.choices], required=False)
    topic = forms.SlugField(required=False, widget=forms.HiddenInput)


class ArticleForm(forms.Form):
    """The author's editor. ``expected_version`` is the version the text was loaded at."""

    title = forms.CharField(max_length=200)
    slug = forms.CharField(
        max_length=100,
        validators=[slug_validator],
        help_text="The article's address: lowercase words joined by hyphens. It cannot change later.",
    )
    section = forms.ChoiceField(choices=Section.choices)
    summary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), help_text="One or two sentences for lists and search results."
    )
    order = forms.IntegerField(
        initial=0, help_text="Sort order within the section.", **integer_bounds(Article, "order")
    )
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.select_related("phase").order_by("phase__number", "order"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Roadmap topics this article explains (Ctrl/Cmd-click to pick several).",
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true"}),
        strip=False,
        help_text="Markdown: ## headings, lists, | tables |, ```python code blocks. Glossary terms link themselves; "
        "raw HTML is removed.",
    )
    note = forms.CharField(max_length=200, required=False, label="What changed (optional)")
    expected_version = forms.IntegerField(
        widget=forms.HiddenInput, required=False, min_value=1, max_value=integer_bounds(Article, "version")["max_value"]
    )

    def __init__(self, *args, article: Article | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.article = article
        if article is not None:
            # The slug is the stable id that progress and links point at: never edited.
            self.fields["slug"].disabled = True
            self.fields["slug"].required = False
            self.fields["expected_version"].required = True

    @classmethod
    def initial_for(cls, article: Article) -> dict:
        return {
            "title": article.title,
            "slug": article.slug,
            "section": article.section,
            "summary": article.summary,
            "order": article.order,
            "topics": list(article.topics.all()),
            "body": article.body,
            "expected_version": article.version,
        }


class PreviewForm(forms.Form):
    # No max_length: an over-long body is previewed as the reason it cannot be saved.
    body = forms.CharField(strip=False, required=False)
