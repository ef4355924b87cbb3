"""The tutor page ("ask the guide"): thin views over the tutor's services and selectors.

- ``/tutor/``: the form, the learner's conversations, the open conversation (``?c=<id>``).
- ``POST /tutor/ask/``: ask; htmx gets the new turn, a plain form post is redirected to it.
- ``POST /tutor/stream/``: the same, answered as server-sent events while it is written.
- ``/tutor/conversations/<id>/delete/`` and ``/tutor/history/delete/``: confirm (GET), delete (POST).
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import ApplicationError
from apps.tutor import selectors, services
from apps.tutor.presentation import turn_view

EXAMPLES = [
    "How do I make the model's answers less random?",
    "Why does a chatbot confidently make up facts?",
    "How can a model use a calculator or a search engine?",
]


def _conversation_id(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


@login_required
def tutor_page(request: HttpRequest) -> HttpResponse:
    conversation_id = _conversation_id(request.GET.get("c"))
    conversation = selectors.conversation_get(request.user, conversation_id) if conversation_id else None
    turns = [turn_view(t) for t in selectors.conversation_turns(conversation)] if conversation else []
    context = {
        "conversations": selectors.conversation_list(request.user),
        "conversation": conversation,
        "turns": turns,
        "examples": EXAMPLES,
        "budget": selectors.budget_for(request.user),
        "usage": selectors.usage_today(request.user),
        "missing": bool(conversation_id and not conversation),
    }
    return render(request, "tutor/page.html", context, status=404 if context["missing"] else 200)


@login_required
@require_POST
def tutor_ask_view(request: HttpRequest) -> HttpResponse:
    conversation_id = _conversation_id(request.POST.get("conversation"))
    try:
        turn = services.tutor_ask(request.user, request.POST.get("question", ""), conversation_id=conversation_id)
    except ApplicationError as exc:
        if request.htmx:
            return render(request, "tutor/_error.html", {"message": exc.message}, status=exc.status_code)
        context = {"message": exc.message, "conversation_id": conversation_id}
        return render(request, "tutor/error_page.html", context, status=exc.status_code)
    if request.htmx:
        response = render(request, "tutor/_turn.html", {"turn": turn_view(turn), "new": True})
        response["HX-Push-Url"] = f"{reverse('tutor:page')}?c={turn.conversation_id}"
        return response
    return redirect(f"{reverse('tutor:page')}?c={turn.conversation_id}#turn-{turn.id}")


@login_required
@require_POST
def tutor_stream_view(request: HttpRequest) -> HttpResponse:
    """Server-sent events: ``start`` (citations), ``delta`` (text), ``replace``, ``done`` (the
    rendered turn) or ``error`` (a message). Limits are checked before the stream begins, so a
    refused question is a plain 4xx."""
    conversation_id = _conversation_id(request.POST.get("conversation"))
    events = services.tutor_ask_stream(request.user, request.POST.get("question", ""), conversation_id=conversation_id)
    try:
        first = next(events)  # validation, limits and retrieval happen here
    except ApplicationError as exc:
        return HttpResponse(json.dumps({"detail": exc.message}), status=exc.status_code,
                            content_type="application/json")

    def encode(event) -> str:
        if event.kind == "start":
            data = {"citations": [p.as_dict() for p in event.passages]}
        elif event.kind == "done":
            html = render(request, "tutor/_turn.html", {"turn": turn_view(event.turn), "new": True}).content.decode()
            data = {"html": html, "conversation": event.turn.conversation_id, "turn": event.turn.id}
        else:
            data = {"text": event.text}
        return f"event: {event.kind}\ndata: {json.dumps(data)}\n\n"

    # Under ASGI a synchronous iterator would be read to the end before sending: pull each
    # event in the sync thread (database, SDK) and hand it over as it comes.
    async def stream():
        yield encode(first)
        pull = sync_to_async(lambda: next(events, None))
        while (event := await pull()) is not None:
            yield encode(event)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def tutor_conversation_delete_view(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = selectors.conversation_get(request.user, conversation_id)
    if conversation is None:
        return render(request, "tutor/error_page.html",
                      {"message": "No such conversation (it may already be deleted)."}, status=404)
    if request.method == "POST":
        services.tutor_conversation_delete(request.user, conversation_id)
        return redirect("tutor:page")
    return render(request, "tutor/confirm_delete.html", {"conversation": conversation})


@login_required
@require_http_methods(["GET", "POST"])
def tutor_history_delete_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.tutor_history_delete(request.user)
        return redirect("tutor:page")
    return render(request, "tutor/confirm_delete.html", {"conversation": None,
                                                         "count": len(selectors.conversation_list(request.user))})


@login_required
@require_http_methods(["GET", "POST"])
def playground_page(request: HttpRequest) -> HttpResponse:
    """The prompt playground: a task, strategies, a model and sampling settings; results side by side."""
    from apps.tutor import playground

    form = {"task": "", "strategies": list(playground.STRATEGIES), "examples": "", "samples": 3, "model": "",
            "temperature": 0.7}
    run, error, status = None, "", 200
    if request.method == "POST":
        form = {
            "task": request.POST.get("task", ""),
            "strategies": request.POST.getlist("strategies"),
            "examples": request.POST.get("examples", ""),
            "samples": request.POST.get("samples", "3"),
            "model": request.POST.get("model", ""),
            "temperature": request.POST.get("temperature", "0.7"),
        }
        try:
            try:
                samples, temperature = int(form["samples"]), float(form["temperature"])
            except ValueError:
                raise ApplicationError("Samples must be a whole number and temperature a number.") from None
            examples = [e for e in form["examples"].split("\n\n") if e.strip()]
            run = playground.playground_run(
                request.user, form["task"], strategies=form["strategies"], examples=examples, samples=samples,
                model=form["model"][:120], temperature=temperature,
            )
        except ApplicationError as exc:
            error, status = exc.message, exc.status_code
    context = {
        "form": form, "run": run, "error": error, "strategies": playground.STRATEGIES,
        "models": playground.playground_models(), "runs": playground.playground_runs(request.user),
    }
    return render(request, "tutor/playground.html", context, status=status)
