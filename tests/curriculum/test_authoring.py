from __future__ import annotations

import html as html_lib

import pytest
from django.urls import reverse

from apps.core.errors import PermissionDenied
from apps.curriculum import services
from apps.curriculum.models import Article, ArticleRevision
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def article(loaded) -> Article:
    return Article.objects.get(slug="lora-in-practice")


@pytest.fixture
def second_author(db):
    from apps.core.roles import AUTHOR

    return make_user("grace", AUTHOR, is_staff=True)


def edit_form(article: Article, **changes) -> dict:
    data = {
        "title": article.title,
        "section": article.section,
        "summary": article.summary,
        "order": article.order,
        "topics": [t.pk for t in article.topics.all()],
        "body": article.body,
        "expected_version": article.version,
        "note": "",
        "action": "save",
    }
    data.update(changes)
    return data


def test_editor_loads_with_the_version_it_started_from(client, author, article):
    client.force_login(author)
    response = client.get(reverse("curriculum:author-article-edit", args=[article.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="expected_version" value="1"' in html
    assert "LoRA trains two small matrices" in html
    assert 'hx-post="/learn/author/preview/"' in html
    assert "Save version 2" in html


def test_saving_creates_a_version_and_a_revision(client, author, article, search_calls):
    client.force_login(author)
    url = reverse("curriculum:author-article-edit", args=[article.slug])
    response = client.post(url, edit_form(article, body="## New\n\nRewritten.\n", note="tightened"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.version == 2 and article.body == "## New\n\nRewritten.\n" and article.updated_by == author
    revision = article.revisions.get(version=2)
    assert (revision.author, revision.note, revision.body) == (author, "tightened", article.body)
    assert ("article", ["lora-in-practice"]) in search_calls
    # Saving the same text again writes nothing.
    client.post(url, edit_form(article))
    article.refresh_from_db()
    assert article.version == 2 and article.revisions.count() == 2


def test_a_stale_save_is_refused_and_the_authors_text_is_kept(client, author, second_author, article):
    # Ada opens the editor at version 1; meanwhile Grace saves version 2.
    services.article_update(article, user=second_author, expected_version=1, body="Grace's version.\n")
    client.force_login(author)
    mine = "## Why LoRA\n\nAda's careful <rewrite> & more.\n"
    response = client.post(
        reverse("curriculum:author-article-edit", args=[article.slug]),
        edit_form(article, body=mine, expected_version=1),
    )
    assert response.status_code == 409
    page = response.content.decode()
    text = html_lib.unescape(page)
    assert "Someone else saved this article while you were editing (version 2 by grace at" in text
    assert "Your text is below - copy it, reload, and merge." in text
    assert "Ada&#x27;s careful &lt;rewrite&gt; &amp; more." in page  # her text, escaped, in the textarea
    assert "Grace's&nbsp;version." in page  # the diff shows what the other save contains
    article.refresh_from_db()
    assert article.body == "Grace's version.\n" and article.version == 2  # nothing overwritten
    assert article.revisions.count() == 2


def test_conflict_guard_in_the_service(author, second_author, article):
    services.article_update(article, user=author, expected_version=1, title="First")
    with pytest.raises(services.ArticleEditConflict) as info:
        services.article_update(article, user=second_author, expected_version=1, title="Second")
    assert info.value.status_code == 409 and info.value.extra["current_version"] == 2
    assert info.value.extra["updated_by"] == "ada"


def test_history_diff_and_restore(client, author, article):
    services.article_update(article, user=author, expected_version=1, body="Version two <script>x</script>\n")
    services.article_update(article, user=author, expected_version=2, body="Version three.\n")
    client.force_login(author)
    html = client.get(reverse("curriculum:author-article-revisions", args=[article.slug])).content.decode()
    assert "v3" in html and "v2" in html and "v1" in html and "loaded from content/" in html

    response = client.get(reverse("curriculum:author-article-revision", args=[article.slug, 2]))
    html = response.content.decode()
    assert '<table class="diff"' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html
    assert "Restore this revision" in html

    response = client.post(
        reverse("curriculum:author-article-revision-restore", args=[article.slug, 1]), {"expected_version": 3}
    )
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.version == 4 and "two small matrices" in article.body
    assert article.revisions.get(version=4).note == "restored version 1"
    assert article.revisions.count() == 4  # nothing lost


def test_restore_from_a_stale_page_is_refused(client, author, article):
    services.article_update(article, user=author, expected_version=1, body="Two.\n")
    client.force_login(author)
    url = reverse("curriculum:author-article-revision-restore", args=[article.slug, 1])
    response = client.post(url, {"expected_version": 1}, follow=True)
    assert "Someone else saved this article" in html_lib.unescape(response.content.decode())
    article.refresh_from_db()
    assert article.version == 2


def test_create_publish_and_unpublish(client, author, loaded, search_calls):
    client.force_login(author)
    response = client.post(
        reverse("curriculum:author-article-create"),
        {
            "title": "Attention heads",
            "slug": "attention-heads",
            "section": "core-concepts",
            "summary": "Heads, explained.",
            "order": 5,
            "body": "## Heads\n\nMany heads.\n",
            "action": "save",
        },
    )
    assert response.status_code == 302
    article = Article.objects.get(slug="attention-heads")
    assert article.status == "draft" and article.version == 1 and article.revisions.get().note == "created"
    assert client.get("/learn/articles/attention-heads/").status_code == 200  # authors see drafts
    client.logout()
    assert client.get("/learn/articles/attention-heads/").status_code == 404

    client.force_login(author)
    publish = reverse("curriculum:author-article-publish", args=["attention-heads"])
    client.post(publish, {"publish": "1"})
    article.refresh_from_db()
    assert article.status == "published" and article.published_at
    assert ("article", ["attention-heads"]) in search_calls
    client.logout()
    assert client.get("/learn/articles/attention-heads/").status_code == 200
    client.force_login(author)
    client.post(publish, {"publish": "0"})
    client.logout()
    assert client.get("/learn/articles/attention-heads/").status_code == 404


def test_create_refuses_a_taken_slug(client, author, loaded):
    client.force_login(author)
    response = client.post(
        reverse("curriculum:author-article-create"),
        {
            "title": "Dup",
            "slug": "lora-in-practice",
            "section": "faq",
            "summary": "s",
            "order": 0,
            "body": "b",
        },
    )
    assert response.status_code == 400 and "already exists" in response.content.decode()


def test_preview_renders_sanitized_html_for_authors_only(client, author, learner, loaded):
    url = reverse("curriculum:author-preview")
    body = "## Hi\n\nA gradient <script>alert(1)</script> [x](javascript:alert(2))"
    assert client.post(url, {"body": body}).status_code == 302  # anonymous: log in first
    client.force_login(learner)
    assert client.post(url, {"body": body}).status_code == 403
    client.force_login(author)
    response = client.post(url, {"body": body}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and '<h2 id="hi">Hi</h2>' in html and 'data-term="gradient"' in html
    # The script is shown as escaped text (with a warning) and the refused link as its literal
    # text: neither is markup.
    assert "<script" not in html and '="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "shown as text" in html


def test_preview_without_javascript_rerenders_the_form(client, author, article):
    client.force_login(author)
    response = client.post(
        reverse("curriculum:author-article-edit", args=[article.slug]),
        edit_form(article, body="## Previewed\n\nText.", action="preview"),
    )
    assert response.status_code == 200 and '<h2 id="previewed">Previewed</h2>' in response.content.decode()
    article.refresh_from_db()
    assert article.version == 1


def test_learners_cannot_author(client, learner, article):
    client.force_login(learner)
    for url in (
        reverse("curriculum:author-articles"),
        reverse("curriculum:author-article-edit", args=[article.slug]),
        reverse("curriculum:author-article-revisions", args=[article.slug]),
    ):
        assert client.get(url).status_code == 403
    response = client.post(
        reverse("curriculum:author-article-edit", args=[article.slug]), edit_form(article, title="X")
    )
    assert response.status_code == 403
    assert client.post(reverse("curriculum:author-article-publish", args=["unfinished-draft"])).status_code == 403
    with pytest.raises(PermissionDenied):
        services.article_update(article, user=learner, expected_version=1, title="X")
    with pytest.raises(PermissionDenied):
        services.article_publish(article, user=learner)
    article.refresh_from_db()
    assert article.title == "LoRA in practice"


def test_learner_cannot_use_the_admin(client, learner, article):
    client.force_login(learner)
    for url in (
        "/admin/curriculum/article/",
        f"/admin/curriculum/article/{article.pk}/change/",
        "/admin/curriculum/topic/add/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_for_authors(client, author, article):
    client.force_login(author)
    assert client.get("/admin/curriculum/article/?status__exact=published&q=lora").status_code == 200
    change = client.get(f"/admin/curriculum/article/{article.pk}/change/")
    assert change.status_code == 200 and "Open in the author editor" in change.content.decode()
    assert 'name="_save"' not in change.content.decode()  # read-only: edits go through the editor
    assert client.get("/admin/curriculum/article/add/")["Location"] == reverse("curriculum:author-article-create")
    draft = Article.objects.get(slug="unfinished-draft")
    response = client.post(
        "/admin/curriculum/article/",
        {
            "action": "publish_selected",
            "_selected_action": [draft.pk],
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published"
    for model in ("topic", "phase", "glossaryterm", "resource", "milestoneproject", "checklistitem", "articlerevision"):
        assert client.get(f"/admin/curriculum/{model}/").status_code == 200, model
    assert ArticleRevision.objects.filter(article=article).count() == 1


def test_admin_edits_of_searchable_rows_are_reindexed(client, author, loaded, search_calls):
    from apps.curriculum.models import GlossaryTerm

    client.force_login(author)
    term = GlossaryTerm.objects.get(slug="kv-cache")
    response = client.post(
        f"/admin/curriculum/glossaryterm/{term.pk}/change/",
        {
            "term": "KV cache",
            "aliases": "key-value cache",
            "short": "Saved keys and values.",
            "long": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    term.refresh_from_db()
    assert term.aliases == ["key-value cache"] and term.slug == "kv-cache"
    assert search_calls == [("glossary", ["kv-cache"])]
