"""Sending a job's files back to people, safely.

The bytes were written by a learner's code, so a download must never be rendered by the
browser on the site's origin: it goes out as an attachment, ``application/octet-stream``,
with ``nosniff`` and ``Content-Security-Policy: sandbox`` (no script, no same-origin even if
a browser renders it anyway). The one exception is an image whose type is checked from its
bytes (PNG, JPEG, GIF, WebP - never SVG, which is a document that can carry script): that
may be shown inline, e.g. a loss plot on the result page.
"""

from __future__ import annotations

from typing import BinaryIO

from django.http import FileResponse

from apps.labs.models import Artifact

OCTET_STREAM = "application/octet-stream"


def sniff_image_type(head: bytes) -> str | None:
    """The image type the magic number says, or None. Names and runner claims are ignored."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def artifact_image_type(fh: BinaryIO) -> str | None:
    head = fh.read(16)
    fh.seek(0)
    return sniff_image_type(head)


def artifact_response(artifact: Artifact, *, inline: bool = False) -> FileResponse:
    """The file as a download; ``inline`` is honoured only for images checked from the bytes."""
    fh = artifact.file.open("rb")
    image_type = artifact_image_type(fh)
    show_inline = inline and image_type is not None
    response = FileResponse(
        fh,
        as_attachment=not show_inline,
        filename=artifact.name.rsplit("/", 1)[-1],
        content_type=image_type if show_inline else OCTET_STREAM,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Set here so the site-wide CSP middleware leaves it alone (it never overwrites a header).
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
