"""Tutor REST API: ask a question, list / read / delete the caller's conversations.

Every operation needs a signed-in account (``IsAuthenticated``); a conversation of another
user is a 404 (existence does not leak). Limits (question size, per-minute rate, daily
budget) are the services' and come back as 400 / 429 with a message that says what to do.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import NotFound
from apps.core.validation import NulFreeInputMixin
from apps.tutor import selectors, services

TAGS = ["tutor"]


@extend_schema_serializer(component_name="TutorCitation")
class CitationSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="The number the answer cites it by: [n].")
    kind = serializers.CharField()
    key = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(help_text="The page, with the article section's anchor where there is one.")
    text = serializers.CharField(help_text="The passage given to the model (or quoted).")


@extend_schema_serializer(component_name="TutorTurn")
class TurnSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    question = serializers.CharField()
    answer = serializers.CharField(help_text="Markdown; [n] cites citations[n-1].")
    citations = CitationSerializer(many=True)
    cited = serializers.ListField(child=serializers.IntegerField(), help_text="Citation numbers the answer uses.")
    extractive = serializers.BooleanField(help_text="True: passages were quoted, no language model wrote this.")
    grounded = serializers.BooleanField(help_text="False: the answer cites no passage (treat it with care).")
    notice = serializers.CharField(help_text="E.g. that the language model did not answer and why the fallback.")
    provider = serializers.CharField(help_text="The LLM_PROVIDERS alias that answered.")
    provider_label = serializers.CharField()
    model = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=10, decimal_places=6, help_text="Estimated.")
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="TutorConversation")
class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="TutorConversationDetail")
class ConversationDetailSerializer(ConversationSerializer):
    turns = TurnSerializer(many=True, source="turns.all")


@extend_schema_serializer(component_name="TutorQuestionInput")
class QuestionInputSerializer(NulFreeInputMixin, serializers.Serializer):
    question = serializers.CharField(
        max_length=settings.TUTOR_MAX_QUESTION_CHARS, trim_whitespace=True,
        help_text=f"In plain words; at most {settings.TUTOR_MAX_QUESTION_CHARS} characters.",
    )
    conversation = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1,
        help_text="Continue this conversation (a follow-up keeps its context); omit to start one.",
    )


class TutorQuestionsApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        tags=TAGS, operation_id="tutor_question_ask", request=QuestionInputSerializer,
        responses={201: TurnSerializer, 400: OpenApiResponse(description="Empty or too long a question."),
                   404: OpenApiResponse(description="No such conversation."),
                   429: OpenApiResponse(description="Rate limit or daily budget reached; Retry-After says when.")},
        summary="Ask the guide a question: an answer grounded in the platform's content, with citations.",
    )
    def post(self, request: Request) -> Response:
        data = QuestionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        turn = services.tutor_ask(
            request.user, data.validated_data["question"], conversation_id=data.validated_data.get("conversation")
        )
        return Response(TurnSerializer(turn).data, status=status.HTTP_201_CREATED)


class TutorConversationsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=TAGS, operation_id="tutor_conversations_list",
                   responses={200: ConversationSerializer(many=True)},
                   summary="The caller's conversations, newest first (at most 100).")
    def get(self, request: Request) -> Response:
        return Response(ConversationSerializer(selectors.conversation_list(request.user), many=True).data)

    @extend_schema(tags=TAGS, operation_id="tutor_conversations_delete_all", request=None,
                   responses={204: None}, summary="Delete all of the caller's conversations.")
    def delete(self, request: Request) -> Response:
        services.tutor_history_delete(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TutorConversationApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=TAGS, operation_id="tutor_conversation_read",
                   responses={200: ConversationDetailSerializer,
                              404: OpenApiResponse(description="No such conversation.")},
                   summary="One of the caller's conversations with its questions and answers.")
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(request.user, conversation_id)
        if conversation is None:
            raise NotFound("No such conversation.")
        return Response(ConversationDetailSerializer(conversation).data)

    @extend_schema(tags=TAGS, operation_id="tutor_conversation_delete", request=None,
                   responses={204: None, 404: OpenApiResponse(description="No such conversation.")},
                   summary="Delete one of the caller's conversations.")
    def delete(self, request: Request, conversation_id: int) -> Response:
        services.tutor_conversation_delete(request.user, conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_serializer(component_name="PlaygroundResult")
class PlaygroundResultSerializer(serializers.Serializer):
    strategy = serializers.CharField(help_text="zero_shot, few_shot, chain_of_thought or self_consistency.")
    label = serializers.CharField()
    output = serializers.CharField()
    answer = serializers.CharField(help_text="The final answer (self-consistency: the majority vote).")
    votes = serializers.DictField(child=serializers.IntegerField(), help_text="Self-consistency: answer -> samples.")
    samples = serializers.IntegerField()
    latency_ms = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=10, decimal_places=6, help_text="Estimated.")
    model = serializers.CharField()
    error = serializers.CharField()


@extend_schema_serializer(component_name="PlaygroundRun")
class PlaygroundRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task = serializers.CharField()
    provider = serializers.CharField()
    model = serializers.CharField()
    results = PlaygroundResultSerializer(many=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=10, decimal_places=6)
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="PlaygroundRunInput")
class PlaygroundInputSerializer(NulFreeInputMixin, serializers.Serializer):
    task = serializers.CharField(max_length=4000)
    strategies = serializers.ListField(
        child=serializers.ChoiceField(choices=["zero_shot", "few_shot", "chain_of_thought", "self_consistency"]),
        min_length=1, max_length=4,
    )
    examples = serializers.ListField(child=serializers.CharField(max_length=500), max_length=5, required=False)
    samples = serializers.IntegerField(min_value=2, max_value=5, default=3)
    model = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    temperature = serializers.FloatField(min_value=0, max_value=2, default=0.7)


class PlaygroundRunsApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        tags=TAGS, operation_id="playground_run_create", request=PlaygroundInputSerializer,
        responses={201: PlaygroundRunSerializer,
                   400: OpenApiResponse(description="Invalid input, or no language model is configured."),
                   429: OpenApiResponse(description="Rate limit or daily budget reached.")},
        summary="Run a task with several prompting strategies side by side (latency, tokens, cost for each).",
    )
    def post(self, request: Request) -> Response:
        from apps.tutor.playground import playground_run

        data = PlaygroundInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        run = playground_run(request.user, v["task"], strategies=v["strategies"], examples=v.get("examples", []),
                             samples=v["samples"], model=v["model"], temperature=v["temperature"])
        return Response(PlaygroundRunSerializer(run).data, status=status.HTTP_201_CREATED)
