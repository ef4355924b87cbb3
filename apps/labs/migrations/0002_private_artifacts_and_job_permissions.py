import shutil
from pathlib import Path

from django.conf import settings
from django.db import migrations, models

import apps.labs.models
import apps.labs.storage


def move_artifacts_to_private_storage(apps, schema_editor):
    """Artifacts used to live under MEDIA_ROOT (served in DEBUG): move them out of reach."""
    from django.core.files.storage import storages

    Artifact = apps.get_model("labs", "Artifact")
    media_root = Path(settings.MEDIA_ROOT)
    private_root = Path(storages["private"].location)
    for name in Artifact.objects.values_list("file", flat=True).iterator():
        source, target = media_root / name, private_root / name
        if source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)
    shutil.rmtree(media_root / "labs" / "artifacts", ignore_errors=True)


class Migration(migrations.Migration):
    dependencies = [
        ("labs", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="labjob",
            options={
                "ordering": ["-queued_at"],
                "permissions": [
                    ("view_any_labjob", "Can see any learner's lab jobs, their code and events"),
                    ("cancel_any_labjob", "Can cancel any learner's lab job"),
                ],
            },
        ),
        migrations.AlterField(
            model_name="artifact",
            name="file",
            field=models.FileField(
                max_length=500,
                storage=apps.labs.storage.private_storage,
                upload_to=apps.labs.models.artifact_upload_to,
            ),
        ),
        migrations.AddField(
            model_name="artifact",
            name="image_type",
            field=models.CharField(
                blank=True,
                help_text="image/png, jpeg, gif or webp, checked from the bytes; empty otherwise.",
                max_length=16,
            ),
        ),
        migrations.RunPython(move_artifacts_to_private_storage, migrations.RunPython.noop),
    ]
