"""Issue #14, finding 15: author writes that could break the server, through the API and
the author pages as an author would send them.

Before: nested brackets rendered in quadratic time (8 KB: 6.4 s), 250 nested list levels
raised RecursionError at render and were saved anyway (every view a 500), ``order:
2147483648`` and a NUL in ``topics`` were 500s, a 2 MB body was accepted, and an unclosed
``<style>`` silently dropped the rest of the article.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.curriculum.markdown import render_markdown
from apps.curriculum.models import Article, GlossaryTerm

pytestmark = pytest.mark.django_db

API = "/api/v1/curriculum"
INT_MAX = 2_147_483_647


def nested_list(levels: int) -> str:
    return "".join("  " * i + "- item\n" for i in range(levels))


def new_article(**fields) -> dict:
    return {"slug": "attack", "title": "Attack", "section": "faq", "summary": "s", "body": "Text.\n", **fields}


@pytest.fixture
def author_api(api_client, loaded, author):
    api_client.force_authenticate(author)
    return api_client


def assert_nothing_saved(before_count: int, before_version: int) -> None:
    assert Article.objects.count() == before_count
    assert not Article.objects.filter(slug="attack").exists()
    assert Article.objects.get(slug="lora-in-practice").version == before_version


# --- Bodies that used to take the server down -------------------------------------------


@pytest.mark.parametrize("size", [4_096, 8_192, 50_000])
def test_nested_brackets_are_rendered(author_api, size):
    # 50,000 bytes is the limit itself (CURRICULUM_MAX_BODY_BYTES): the worst accepted case.
    body = "[" * size
    created = author_api.post(f"{API}/articles/", new_article(body=body), format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["html"] == f"<p>{body}</p>\n"
    page = author_api.get(f"{API}/articles/attack/")
    assert page.status_code == 200 and page.json()["body"] == body


def test_deeply_nested_lists_are_refused_at_save_not_at_every_view(author_api):
    before = (Article.objects.count(), Article.objects.get(slug="lora-in-practice").version)
    body = nested_list(200)  # 250 levels (64 KB) are refused by size alone
    created = author_api.post(f"{API}/articles/", new_article(body=body), format="json")
    assert created.status_code == 400
    assert created.json()["field"] == "body" and "nested too deeply" in created.json()["body"][0]
    updated = author_api.patch(
        f"{API}/articles/lora-in-practice/", {"expected_version": 1, "body": body}, format="json"
    )
    assert updated.status_code == 400 and "nested too deeply" in updated.json()["body"][0]
    assert_nothing_saved(*before)
    # Moderate nesting (what articles use) is fine.
    assert author_api.post(f"{API}/articles/", new_article(body=nested_list(8)), format="json").status_code == 201


def test_a_stored_deep_body_still_shows_instead_of_a_500(client, loaded):
    # Saved before the check existed (or written to the database by hand).
    Article.objects.create(
        slug="legacy", title="Legacy", section="faq", summary="s", body=nested_list(250), status="published"
    )
    response = client.get(reverse("curriculum:article", args=["legacy"]))
    assert response.status_code == 200 and "<li>item" in response.content.decode()


def test_a_body_over_the_limit_is_refused_naming_the_field_and_the_limit(author_api):
    before = (Article.objects.count(), Article.objects.get(slug="lora-in-practice").version)
    body = "word " * 400_000  # 2 MB
    created = author_api.post(f"{API}/articles/", new_article(body=body), format="json")
    assert created.status_code == 400
    assert created.json()["field"] == "body"
    assert "limited to 50 KB" in created.json()["body"][0] and "2,000 KB" in created.json()["body"][0]
    updated = author_api.patch(
        f"{API}/articles/lora-in-practice/", {"expected_version": 1, "body": body}, format="json"
    )
    assert updated.status_code == 400 and "limited to 50 KB" in updated.json()["body"][0]
    assert_nothing_saved(*before)


def test_the_limit_is_a_setting(author_api, settings):
    settings.CURRICULUM_MAX_BODY_BYTES = 1_000
    refused = author_api.post(f"{API}/articles/", new_article(body="x" * 1_001), format="json")
    assert refused.status_code == 400 and "limited to 1 KB" in refused.json()["body"][0]
    assert author_api.post(f"{API}/articles/", new_article(body="x" * 1_000), format="json").status_code == 201


@pytest.mark.parametrize("opening", ["<style>", "<script>", "<textarea>", "<!--", "<style>body{display:none}"])
def test_unclosed_raw_html_keeps_the_rest_of_the_article(author_api, opening):
    body = f"Intro.\n\n{opening}\n\n## Later section\n\nStill here.\n"
    created = author_api.post(f"{API}/articles/", new_article(body=body), format="json")
    assert created.status_code == 201
    data = created.json()
    assert "Still here." in data["html"] and '<h2 id="later-section">Later section</h2>' in data["html"]
    assert data["toc"] == [{"level": 2, "id": "later-section", "title": "Later section"}]
    assert data["warnings"] and "shown as text" in data["warnings"][0]
    # The dropped markup is visible to the author as text, never live.
    assert "<style" not in data["html"] and "<script" not in data["html"] and "<textarea" not in data["html"]


def test_inline_script_in_a_paragraph_keeps_the_rest(author_api):
    body = "Before <script> after.\n\n## Next\n\nMore.\n"
    data = author_api.post(f"{API}/articles/", new_article(body=body), format="json").json()
    assert "&lt;script&gt; after." in data["html"] and "More." in data["html"]
    assert [entry["id"] for entry in data["toc"]] == ["next"]
    assert "<script" in data["warnings"][0]


def test_clean_bodies_have_no_warnings(author_api):
    data = author_api.post(f"{API}/articles/", new_article(body="## Hi\n\n<kbd>Ctrl</kbd>\n"), format="json").json()
    assert data["warnings"] == [] and "<kbd>Ctrl</kbd>" in data["html"]


# --- Values the database would refuse ------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"order": INT_MAX + 1}, "order"),
        ({"order": -INT_MAX - 2}, "order"),
        ({"topics": ["lora\x00"]}, "topics"),
        ({"topics": ["\x00"]}, "topics"),
        ({"title": "A\x00B"}, "title"),
        ({"summary": "s\x00"}, "summary"),
        ({"body": "Text\x00"}, "body"),
        ({"note": "n\x00"}, "note"),
        ({"title": "t" * 201}, "title"),
        ({"summary": "s" * 2_001}, "summary"),
    ],
)
def test_out_of_range_and_nul_values_are_a_400_naming_the_field(author_api, change, field):
    before = (Article.objects.count(), Article.objects.get(slug="lora-in-practice").version)
    created = author_api.post(f"{API}/articles/", new_article(**change), format="json")
    assert created.status_code == 400, created.content
    assert field in created.json(), created.json()
    updated = author_api.patch(f"{API}/articles/lora-in-practice/", {"expected_version": 1, **change}, format="json")
    assert updated.status_code == 400, updated.content
    assert field in updated.json(), updated.json()
    assert_nothing_saved(*before)


def test_the_range_edges_themselves_are_accepted(author_api):
    created = author_api.post(f"{API}/articles/", new_article(order=INT_MAX), format="json")
    assert created.status_code == 201 and created.json()["order"] == INT_MAX
    updated = author_api.patch(f"{API}/articles/attack/", {"expected_version": 1, "order": -INT_MAX - 1}, format="json")
    assert updated.status_code == 200 and updated.json()["order"] == -INT_MAX - 1


@pytest.mark.parametrize("value", [INT_MAX + 1, -1, 0])
def test_expected_version_out_of_range_is_a_400(author_api, value):
    response = author_api.patch(
        f"{API}/articles/lora-in-practice/", {"expected_version": value, "title": "x"}, format="json"
    )
    assert response.status_code == 400 and "expected_version" in response.json()
    restore = author_api.post(
        f"{API}/articles/lora-in-practice/revisions/1/restore/", {"expected_version": value}, format="json"
    )
    assert restore.status_code == 400 and "expected_version" in restore.json()


def test_nul_in_a_form_encoded_write_is_a_400(author_api):
    # Form-encoded input arrives as a QueryDict of lists: every value is checked.
    response = author_api.post(f"{API}/articles/", {**new_article(), "topics": ["lora", "x\x00"]})
    assert response.status_code == 400 and "topics" in response.json()
    progress = author_api.put(f"{API}/progress/topics/vectors/", {"status": "done\x00"}, format="json")
    assert progress.status_code == 400 and "status" in progress.json()


# --- The author pages ------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("change", "field_text"),
    [
        ({"order": INT_MAX + 1}, "less than or equal to 2147483647"),
        ({"topics": ["1\x00"]}, ""),
        ({"body": nested_list(200)}, "nested too deeply"),
        ({"body": "x" * 50_001}, "limited to 50 KB"),
        ({"title": "A\x00"}, "Null characters are not allowed"),
    ],
)
def test_the_author_form_refuses_with_the_reason_and_keeps_the_text(client, author, loaded, change, field_text):
    article = Article.objects.get(slug="lora-in-practice")
    client.force_login(author)
    edit = client.post(reverse("curriculum:author-article-edit", args=[article.slug]), edit_form(article, **change))
    assert edit.status_code == 400
    assert field_text in edit.content.decode()
    create = client.post(
        reverse("curriculum:author-article-create"), {**edit_form(article, **change), "slug": "attack"}
    )
    assert create.status_code == 400
    assert Article.objects.get(slug=article.slug).version == 1 and not Article.objects.filter(slug="attack").exists()


def test_saving_raw_style_warns_the_author_on_the_page(client, author, loaded):
    article = Article.objects.get(slug="lora-in-practice")
    client.force_login(author)
    url = reverse("curriculum:author-article-edit", args=[article.slug])
    saved = client.post(url, edit_form(article, body="<style>\n\n## Kept\n\nText.\n"), follow=True)
    html = saved.content.decode()
    assert saved.status_code == 200 and "shown as text" in html
    assert '<h2 id="kept">Kept</h2>' in render_markdown(Article.objects.get(slug=article.slug).body).html


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("x" * 2_000_000, "limited to 50 KB"),
        (nested_list(200), "nested too deeply"),
        ("<script>\n\n## Fine\n", "shown as text"),
        ("a\x00b", "Null characters are not allowed"),
    ],
)
def test_the_live_preview_says_why(client, author, loaded, body, expected):
    client.force_login(author)
    response = client.post(reverse("curriculum:author-preview"), {"body": body}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and expected in response.content.decode()


def test_admin_refuses_markdown_that_cannot_render(client, staff, loaded):
    client.force_login(staff)
    term = GlossaryTerm.objects.get(slug="kv-cache")
    response = client.post(
        reverse("admin:curriculum_glossaryterm_change", args=[term.pk]),
        {"term": term.term, "aliases": "", "short": term.short, "long": nested_list(200)},
    )
    assert response.status_code == 200 and "nested too deeply" in response.content.decode()
    term.refresh_from_db()
    assert "item" not in term.long


def test_the_content_loader_refuses_a_body_that_cannot_render(content_dir):
    from apps.core.errors import ApplicationError
    from apps.curriculum.loader import curriculum_load

    path = content_dir / "articles" / "lora-in-practice.md"
    path.write_text(path.read_text() + "\n" + nested_list(200))
    with pytest.raises(ApplicationError) as info:
        curriculum_load(content_dir)
    assert "lora-in-practice.md" in info.value.message and "nested too deeply" in info.value.message
    assert not Article.objects.exists()
