"""The career loader: the shipped files load completely, reloads are idempotent, and a bad
file loads nothing and names the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings

from apps.career.loader import career_load
from apps.career.models import GuideEntry, GuideList, JobReadyEstimate, Role, SalaryBand, Track
from apps.core.errors import ApplicationError


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_shipped_catalogue_loads_everything_from_the_guide(catalogue):
    assert "4 tracks, 14 roles" in catalogue
    assert list(Track.objects.values_list("slug", flat=True)) == ["research", "engineering", "product", "specialist"]
    assert Role.objects.count() == 14
    # Every role needs at least one roadmap topic, and the links point at real topics.
    for role in Role.objects.all():
        assert role.topics.exists(), role.slug
        assert role.skills and role.what_it_does, role.slug
    # Every salary table of the guide: US, Europe, India and remote.
    assert set(SalaryBand.objects.values_list("region", flat=True)) == {"us", "europe", "india", "remote"}
    assert SalaryBand.objects.filter(region="us").count() == 6
    llm = SalaryBand.objects.get(role__slug="llm-engineer")
    assert (llm.base_min, llm.base_max, llm.total_min, llm.total_max) == (175000, 240000, 250000, 400000)
    remote = SalaryBand.objects.get(region="remote")
    assert (remote.pct_of_us_min, remote.pct_of_us_max, remote.base_min) == (60, 90, None)
    assert SalaryBand.objects.get(slug="us-ai-ml-staff-engineer").open_ended is True
    for band in SalaryBand.objects.all():
        assert band.year == 2026 and band.source, band.slug
    assert list(JobReadyEstimate.objects.values_list("months_min", "months_max")) == [(18, 24), (6, 12), (3, 6), (2, 4)]
    assert set(GuideList.objects.values_list("slug", flat=True)) == {
        "company-types",
        "where-to-find-jobs",
        "resume-keywords",
        "resume-red-flags",
    }
    assert GuideEntry.objects.filter(guide_list__slug="company-types").count() == 5


def test_second_load_changes_nothing(catalogue):
    ids = dict(Role.objects.values_list("slug", "id"))
    summary = career_load(Path(settings.CONTENT_DIR))
    assert summary.endswith("(0 changed)")
    assert dict(Role.objects.values_list("slug", "id")) == ids


def test_loader_is_registered_after_the_curriculum():
    loaders = settings.CONTENT_LOADERS
    assert loaders.index("apps.career.loader.career_load") > loaders.index("apps.curriculum.loader.curriculum_load")


def test_changed_entry_is_rewritten_in_place(career_dir):
    career_load(career_dir)
    role_id = Role.objects.get(slug="llm-engineer").id
    paths = career_dir / "career" / "paths.yaml"
    _edit(paths, "topics: [python-fluency, prompt-anatomy,", "topics: [prompt-anatomy,")
    summary = career_load(career_dir)
    assert summary.endswith("(1 changed)")
    role = Role.objects.get(slug="llm-engineer")
    assert role.id == role_id
    assert not role.topics.filter(slug="python-fluency").exists()
    assert role.topics.filter(slug="prompt-anatomy").exists()


def test_removed_salary_band_is_deleted_and_guide_entries_replaced(career_dir):
    career_load(career_dir)
    salaries = career_dir / "career" / "salaries.yaml"
    rows = yaml.safe_load(salaries.read_text())
    salaries.write_text(yaml.safe_dump([r for r in rows if r["slug"] != "remote-us-company"]))
    lists = career_dir / "career" / "guide_lists.yaml"
    _edit(lists, "    - title: Enterprise AI teams\n", "    - title: In-house AI teams\n")
    career_load(career_dir)
    assert not SalaryBand.objects.filter(slug="remote-us-company").exists()
    titles = list(GuideEntry.objects.filter(guide_list__slug="company-types").values_list("title", flat=True))
    assert titles[-1] == "In-house AI teams" and len(titles) == 5


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "paths.yaml",
            "[python-fluency, prompt-anatomy",
            "[python-fluency, no-such-topic",
            "'no-such-topic' is not a roadmap topic",
        ),
        ("salaries.yaml", "region: india", "region: mars", "'region' is 'mars'"),
        ("salaries.yaml", "  base_min: 175000", "  base_min: 275000", "'base_min' (275000) is above 'base_max'"),
        ("salaries.yaml", "  year: 2026\n", "  year: 26\n", "'year' must be between"),
        (
            "salaries.yaml",
            'role_slug: "llm-engineer"',
            'role_slug: "llm-wizard"',
            "role_slug 'llm-wizard' is not in paths.yaml",
        ),
        ("salaries.yaml", "  source: GenAI", "  sauce: GenAI", "unknown key 'sauce'"),
        ("time_to_job_ready.yaml", "months_min: 18", "months_min: 30", "'months_min' (30) is above 'months_max'"),
        (
            "guide_lists.yaml",
            "- slug: resume-red-flags",
            "- slug: resume-keywords",
            "slug 'resume-keywords' appears twice",
        ),
    ],
)
def test_bad_file_loads_nothing_and_names_file_and_line(career_dir, file, old, new, message):
    _edit(career_dir / "career" / file, old, new)
    with pytest.raises(ApplicationError) as exc:
        career_load(career_dir)
    assert f"career/{file}, line " in exc.value.message
    assert message in exc.value.message
    assert Role.objects.count() == 0 and SalaryBand.objects.count() == 0


def test_a_band_needs_some_figure(career_dir):
    salaries = career_dir / "career" / "salaries.yaml"
    _edit(salaries, "pct_of_us_min: 60", "pct_of_us_min: null")
    _edit(salaries, "pct_of_us_max: 90", "pct_of_us_max: null")
    with pytest.raises(ApplicationError) as exc:
        career_load(career_dir)
    assert "give a base range, a total range or a share of the US figure" in exc.value.message


def test_missing_file_is_named(career_dir):
    (career_dir / "career" / "guide_lists.yaml").unlink()
    with pytest.raises(ApplicationError) as exc:
        career_load(career_dir)
    assert "career/guide_lists.yaml: file is missing" in exc.value.message
