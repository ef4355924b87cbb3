"""Pages: verify a credential; a job's credential (issue, download, withdraw); what the
issuer publishes (DID document, JWKS, issuer profile, revocation status list)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.core.errors import ApplicationError
from apps.credentials import documents, files
from apps.credentials.models import Credential
from apps.credentials.selectors import (
    MAX_TOKEN_CHARS,
    credential_for_job,
    credential_get,
    credential_public_get,
    credential_verify,
    revoked_status_indices,
)
from apps.credentials.services import credential_issue, credential_revoke

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


# --- published documents (public, cacheable) ---------------------------------------------


def _public_json(data: dict, *, content_type: str = "application/json", max_age: int = 300) -> HttpResponse:
    response = JsonResponse(data, content_type=content_type, json_dumps_params={"indent": 2})
    response["Cache-Control"] = f"public, max-age={max_age}"
    # Wallets and verifiers in a browser fetch these from other origins.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def did_document(request: HttpRequest) -> HttpResponse:
    return _public_json(documents.did_document(), content_type="application/did+json")


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    return _public_json(documents.jwks(), content_type="application/jwk-set+json")


@require_GET
def issuer(request: HttpRequest) -> HttpResponse:
    return _public_json(documents.issuer_document())


@require_GET
def status_list(request: HttpRequest) -> HttpResponse:
    # Signed on each request (cheap: 16 KB of bits, one Ed25519 signature), so a revocation
    # shows here at once; short cache for the same reason.
    response = HttpResponse(documents.status_list_token(revoked_status_indices()), content_type="application/vc+jwt")
    response["Cache-Control"] = "public, max-age=60"
    response["Access-Control-Allow-Origin"] = "*"
    return response


# --- verify ------------------------------------------------------------------------------


class VerifyForm(forms.Form):
    credential = forms.CharField(
        required=False,
        max_length=MAX_TOKEN_CHARS,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="Paste a credential",
        help_text="The JWT (eyJ...) or the .json file's text.",
    )
    file = forms.FileField(
        required=False,
        label="Or upload a file",
        help_text="A badge PNG or SVG with the credential baked in, or a .jwt / .json credential file (2 MB at most).",
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("That file is over 2 MB; a badge or credential is far smaller.")
        return upload

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("credential", "").strip() and not data.get("file"):
            raise forms.ValidationError("Paste a credential or choose a file.")
        return data


def _summary(result) -> dict:
    """What the verify page shows of the claims (never trusted unless the status says so)."""
    claims = result.claims or {}
    subject = claims.get("credentialSubject") if isinstance(claims.get("credentialSubject"), dict) else {}
    achievement = subject.get("achievement") if isinstance(subject.get("achievement"), dict) else {}
    names = (
        [
            i.get("identityHash")
            for i in subject.get("identifier", [])
            if isinstance(i, dict) and i.get("identityType") == "name"
        ]
        if isinstance(subject.get("identifier"), list)
        else []
    )
    run = claims.get("labRun") if isinstance(claims.get("labRun"), dict) else {}
    return {
        "name": claims.get("name") if isinstance(claims.get("name"), str) else "",
        "achievement": achievement.get("name", "") if isinstance(achievement.get("name"), str) else "",
        "learner": names[0] if names and isinstance(names[0], str) else "",
        "issued": claims.get("validFrom", ""),
        "run": run,
        "metrics": run.get("metrics") if isinstance(run.get("metrics"), dict) else {},
        "params": run.get("params") if isinstance(run.get("params"), dict) else {},
        "artifacts": [a for a in run.get("artifacts", []) if isinstance(a, dict)]
        if isinstance(run.get("artifacts"), list)
        else [],
        "claims_json": json.dumps(claims, indent=2, sort_keys=True) if claims else "",
    }


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    result = None
    form = VerifyForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data.get("file")
            try:
                token = (
                    files.token_from_upload(upload.read(MAX_UPLOAD_BYTES + 1))
                    if upload
                    else files.token_from_text(form.cleaned_data["credential"])
                )
            except ValueError as exc:
                form.add_error("file", str(exc))
                status = 400
            else:
                result = credential_verify(token)
        else:
            status = 400
    context = {
        "form": form,
        "result": result,
        "summary": _summary(result) if result else None,
        "did": documents.issuer_did(),
    }
    return render(request, "credentials/verify.html", context, status=status)


@require_GET
def verify_by_id(request: HttpRequest, credential_id) -> HttpResponse:
    try:
        credential = credential_public_get(credential_id=credential_id)
    except ApplicationError:
        raise Http404("There is no such credential.") from None
    result = credential_verify(credential.token)
    context = {
        "form": None,
        "result": result,
        "summary": _summary(result),
        "credential": credential,
        "did": documents.issuer_did(),
    }
    return render(request, "credentials/verify.html", context)


# --- a job's credential (its learner) ----------------------------------------------------


def _owned_job(request: HttpRequest, job_id):
    from apps.labs.selectors import lab_job_get

    try:
        job = lab_job_get(job_id=job_id, user=request.user)
    except ApplicationError:
        raise Http404("There is no such lab job.") from None
    if job.owner_id != request.user.id:  # support may see the job, not hold its credential
        raise Http404("There is no such lab job.")
    return job


@login_required
@require_http_methods(["GET", "POST"])
def job_credential(request: HttpRequest, job_id) -> HttpResponse:
    """GET: the panel (htmx) or page; POST: issue (idempotent)."""
    job = _owned_job(request, job_id)
    error = ""
    if request.method == "POST":
        try:
            credential_issue(job=job, user=request.user)
        except ApplicationError as exc:
            error = exc.message
        if not request.htmx:
            if error:
                messages.error(request, error)
            return redirect("credentials:job", job_id=job.pk)
    context = {"job": job, "credential": credential_for_job(job), "error": error}
    template = "credentials/partials/job_panel.html" if request.htmx else "credentials/job.html"
    return render(request, template, context)


def _own_credential(request: HttpRequest, credential_id) -> Credential:
    try:
        credential = credential_get(credential_id=credential_id, user=request.user)
    except ApplicationError:
        raise Http404("There is no such credential.") from None
    return credential


@login_required
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, credential_id) -> HttpResponse:
    credential = _own_credential(request, credential_id)
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            credential_revoke(credential=credential, user=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            form.add_error("reason", exc.message)
        else:
            messages.success(request, "Withdrawn: anyone who checks this credential now sees it is revoked.")
            if credential.job_id and credential.subject_id == request.user.id:
                return redirect("credentials:job", job_id=credential.job_id)
            return redirect("credentials:verify-id", credential_id=credential.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "credentials/withdraw.html", {"credential": credential, "form": form}, status=status)


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason (optional)",
        help_text="Shown to anyone who checks the credential.",
    )


@login_required
@require_GET
def download(request: HttpRequest, credential_id, fmt: str) -> HttpResponse:
    credential = _own_credential(request, credential_id)
    stem = f"credential-{credential.pk}"
    if fmt == "jwt":
        return files.attachment(credential.token.encode(), filename=f"{stem}.jwt", content_type="application/vc+jwt")
    if fmt == "json":
        body = json.dumps(files.enveloped(credential.token), indent=2).encode()
        return files.attachment(body, filename=f"{stem}.json", content_type="application/json")
    title = credential.job.lab.title if credential.job_id else "Verified lab result"
    return files.attachment(
        files.baked_png(credential.token, title=title), filename=f"{stem}.png", content_type="image/png"
    )
