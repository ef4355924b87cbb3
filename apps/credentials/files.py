"""Files a learner downloads (the credential, the baked badge) and reading uploads back."""

from __future__ import annotations

import io
import json
from typing import Any

from django.http import HttpResponse
from openbadgeslib import baking
from openbadgeslib.ob3 import OB3Verifier
from PIL import Image, ImageDraw, ImageFont

ENVELOPE_PREFIX = "data:application/vc+jwt,"
BADGE_SIZE = 400


def attachment(body: bytes, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


def enveloped(token: str) -> dict[str, Any]:
    """The VC 2.0 JSON form of a JWT-secured credential (an EnvelopedVerifiableCredential)."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": ENVELOPE_PREFIX + token,
        "type": "EnvelopedVerifiableCredential",
    }


def _badge_image(title: str) -> bytes:
    image = Image.new("RGB", (BADGE_SIZE, BADGE_SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, BADGE_SIZE - 20, BADGE_SIZE - 20), fill=(37, 99, 235), outline=(30, 64, 175), width=12)
    draw.line((120, 205, 180, 265, 290, 140), fill=(255, 255, 255), width=26, joint="curve")
    font = ImageFont.load_default(size=22)
    label = title if len(title) <= 28 else title[:27] + "\u2026"
    width = draw.textlength(label, font=font)
    draw.text(((BADGE_SIZE - width) / 2, 300), label, fill=(255, 255, 255), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def baked_png(token: str, *, title: str) -> bytes:
    """A badge PNG carrying the credential in its OB 3.0 ``openbadgecredential`` iTXt chunk."""
    return baking.bake_png(_badge_image(title), token, keyword=baking.ITXT_KEYWORD_OB3)


def token_from_text(text: str) -> str:
    """A pasted credential: the JWT itself, or the JSON envelope around it."""
    text = (text or "").strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return text
        found = document.get("id") if isinstance(document, dict) else None
        if isinstance(found, str) and found.startswith(ENVELOPE_PREFIX):
            return found[len(ENVELOPE_PREFIX) :]
    return text


def token_from_upload(data: bytes) -> str:
    """A baked PNG or SVG badge, or a .jwt / .json file. Raises ValueError when none is found."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        try:
            return OB3Verifier.extract_token_from_png(data)
        except Exception as exc:
            raise ValueError("This PNG carries no Open Badges 3.0 credential.") from exc
    head = data[:512].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg")):
        try:
            return OB3Verifier.extract_token_from_svg(data)
        except Exception as exc:
            raise ValueError("This SVG carries no Open Badges 3.0 credential.") from exc
    try:
        return token_from_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("Upload a badge image (PNG or SVG) or a credential file (.jwt or .json).") from None
