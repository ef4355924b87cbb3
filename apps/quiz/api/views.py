"""Quiz REST API: one APIView per operation, nested serializers; selectors read, services write.

Questions are public reading (like the roadmap; hidden tests and reference solutions are
never served). Attempts, the due queue and mock interviews belong to the signed-in caller:
nobody reads another learner's, except authors, who may read and override a grade.
Write bodies are JSON only.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.caching import cached_by_content
from apps.core.api.pagination import DefaultPagination
from apps.core.errors import NotFound
from apps.core.validation import NulFreeInputMixin
from apps.curriculum.api.refs import TopicLinkOutput
from apps.quiz import selectors, services
from apps.quiz.models import Attempt, Category, Difficulty, MockSession, Question

TAGS = ["quiz"]
PAGING_PARAMS = frozenset({"page", "page_size"})


class ListApi(APIView):
    pagination_class = DefaultPagination

    def paginated(self, request: Request, queryset: QuerySet | list, serializer) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(serializer(page, many=True).data)


class KeyPointOutput(serializers.Serializer):
    text = serializers.CharField()
    weight = serializers.FloatField()


class ChoiceOutput(serializers.Serializer):
    text = serializers.CharField()


class QuestionOutput(serializers.Serializer):
    slug = serializers.CharField()
    category = serializers.ChoiceField(choices=Category.choices)
    difficulty = serializers.ChoiceField(choices=Difficulty.choices)
    phase = serializers.IntegerField()
    topics = TopicLinkOutput(many=True, source="topics.all")
    prompt = serializers.CharField(help_text="Markdown.")
    answer_kind = serializers.ChoiceField(
        choices=["text", "choice", "code"],
        help_text="text: free text graded against key points; choice: send the choice's index; "
        "code: Python run against hidden tests in the sandbox.",
    )
    choices = ChoiceOutput(many=True, help_text="For answer_kind=choice; which one is right is not shown.")
    starter_code = serializers.CharField()
    test_count = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    def get_test_count(self, question: Question) -> int:
        return len(question.tests)


class QuestionDetailOutput(QuestionOutput):
    model_answer = serializers.CharField(help_text="Markdown.")
    key_points = KeyPointOutput(many=True)
    rubric = serializers.ListField(child=serializers.CharField())


class QuestionListApi(ListApi):
    """The question bank, filterable by type, difficulty, phase and topic."""

    permission_classes = [AllowAny]  # public, like the roadmap

    class FilterSerializer(NulFreeInputMixin, serializers.Serializer):
        category = serializers.ChoiceField(choices=Category.choices, required=False)
        difficulty = serializers.ChoiceField(choices=Difficulty.choices, required=False)
        phase = serializers.IntegerField(min_value=0, max_value=5, required=False)
        topic = serializers.SlugField(required=False, max_length=100)

        def validate(self, attrs):
            unknown = sorted(set(self.initial_data) - set(self.fields) - PAGING_PARAMS)
            if unknown:
                allowed = ", ".join(sorted(set(self.fields) | PAGING_PARAMS))
                message = f"Unknown filter {unknown[0]!r}; use one of: {allowed}."
                raise serializers.ValidationError({unknown[0]: [message]})
            return attrs

    @extend_schema(tags=TAGS, summary="List questions", parameters=[FilterSerializer],
                   responses=QuestionOutput(many=True))
    @cached_by_content()  # public and the same for everyone: per content generation
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paginated(request, selectors.question_list(**filters.validated_data), QuestionOutput)


class QuestionDetailApi(APIView):
    """One question with its model answer, key points and rubric."""

    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, summary="Get a question", responses={200: QuestionDetailOutput, 404: OpenApiResponse()})
    @cached_by_content()
    def get(self, request: Request, slug: str) -> Response:
        return Response(QuestionDetailOutput(selectors.question_get(slug)).data)


class TestResultOutput(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    output = serializers.CharField(allow_blank=True)


class AttemptOutput(serializers.Serializer):
    id = serializers.IntegerField()
    question = serializers.CharField(source="question.slug")
    mock = serializers.IntegerField(source="mock_id", allow_null=True)
    answer = serializers.CharField()
    status = serializers.ChoiceField(choices=Attempt.Status.choices,
                                     help_text="pending/grading: code waiting for or running in the sandbox.")
    score = serializers.IntegerField(allow_null=True, help_text="0-100; null until graded.")
    grader = serializers.CharField(help_text="embedding, llm-judge, choice, sandbox, empty or override.")
    feedback = serializers.CharField()
    matched = serializers.SerializerMethodField()
    missed = serializers.SerializerMethodField()
    tests = serializers.SerializerMethodField()
    rating = serializers.IntegerField(allow_null=True, help_text="The FSRS rating the review used (1-4).")
    grading_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    url = serializers.CharField(source="get_absolute_url")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_matched(self, attempt: Attempt) -> list[str]:
        return list(attempt.result.get("matched", []))

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_missed(self, attempt: Attempt) -> list[str]:
        return list(attempt.result.get("missed", []))

    @extend_schema_field(TestResultOutput(many=True))
    def get_tests(self, attempt: Attempt) -> list[dict]:
        return [
            {k: t.get(k, "") for k in ("name", "passed", "error", "output")} for t in attempt.result.get("tests", [])
        ]


def _question(slug: str) -> Question:
    return selectors.question_get(slug)


class AttemptListApi(ListApi):
    """Your attempts (GET, newest first) and answering a question (POST)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    class FilterSerializer(NulFreeInputMixin, serializers.Serializer):
        question = serializers.SlugField(required=False, max_length=100)

        def validate(self, attrs):
            unknown = sorted(set(self.initial_data) - set(self.fields) - PAGING_PARAMS)
            if unknown:
                raise serializers.ValidationError({unknown[0]: [f"Unknown filter {unknown[0]!r}; use question."]})
            return attrs

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        question = serializers.SlugField(max_length=100, help_text="The question's slug.")
        answer = serializers.CharField(
            allow_blank=True, trim_whitespace=False,
            max_length=max(settings.QUIZ_MAX_ANSWER_CHARS, settings.QUIZ_MAX_CODE_CHARS),
            help_text=f"Free text (at most {settings.QUIZ_MAX_ANSWER_CHARS} characters), Python code (at most "
            f"{settings.QUIZ_MAX_CODE_CHARS}) or a choice's index. Empty scores 0.",
        )
        mock = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                        help_text="Answer as part of this mock interview of yours.")

    @extend_schema(tags=TAGS, summary="List your attempts", parameters=[FilterSerializer],
                   responses=AttemptOutput(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        question = _question(filters.validated_data["question"]) if filters.validated_data.get("question") else None
        return self.paginated(request, selectors.attempt_list(user=request.user, question=question), AttemptOutput)

    @extend_schema(
        tags=TAGS, summary="Answer a question", request=InputSerializer,
        responses={
            201: AttemptOutput,
            403: OpenApiResponse(description="Not a learner account"),
            404: OpenApiResponse(description="No such question or mock interview"),
            409: OpenApiResponse(description="The mock interview has ended, or this question was answered in it"),
            413: OpenApiResponse(description="The answer is over the limit (field: answer)"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = _question(data.validated_data["question"])
        mock = None
        if data.validated_data.get("mock"):
            mock = selectors.mock_get(pk=data.validated_data["mock"], user=request.user)
        attempt = services.attempt_submit(user=request.user, question=question,
                                          answer=data.validated_data["answer"], mock=mock)
        return Response(AttemptOutput(attempt).data, status=status.HTTP_201_CREATED)


class AttemptDetailApi(APIView):
    """One of your attempts, with its score and per key point / per test result."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=TAGS, summary="Get one of your attempts",
                   responses={200: AttemptOutput, 404: OpenApiResponse(description="No such attempt of yours")})
    def get(self, request: Request, pk: int) -> Response:
        return Response(AttemptOutput(selectors.attempt_get(pk=pk, user=request.user)).data)


class ReviewOutput(serializers.Serializer):
    question = serializers.CharField(source="question.slug")
    due = serializers.DateTimeField()
    stability = serializers.FloatField(allow_null=True)
    last_score = serializers.IntegerField(allow_null=True)
    reviews = serializers.IntegerField()


class AttemptRatingApi(APIView):
    """Change the review rating of your latest attempt at a question (1 again ... 4 easy)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        rating = serializers.IntegerField(min_value=1, max_value=4)

    @extend_schema(tags=TAGS, summary="Re-rate your latest attempt", request=InputSerializer,
                   responses={200: ReviewOutput, 404: OpenApiResponse(), 409: OpenApiResponse(
                       description="Not your latest graded attempt at this question")})
    def post(self, request: Request, pk: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attempt = selectors.attempt_get(pk=pk, user=request.user)
        if attempt.user_id != request.user.pk:
            raise NotFound("No such attempt.")
        state = services.review_rate(attempt=attempt, user=request.user, rating=data.validated_data["rating"])
        return Response(ReviewOutput(state).data)


class AttemptOverrideApi(APIView):
    """Authors: set an attempt's score (kept as a new grade; the earlier ones stay)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    class InputSerializer(NulFreeInputMixin, serializers.Serializer):
        score = serializers.IntegerField(min_value=0, max_value=100)
        note = serializers.CharField(required=False, allow_blank=True, max_length=settings.QUIZ_MAX_NOTE_CHARS,
                                     default="")

    @extend_schema(tags=TAGS, summary="Override a grade (authors)", request=InputSerializer,
                   responses={200: AttemptOutput, 403: OpenApiResponse(description="Not an author"),
                              404: OpenApiResponse(), 409: OpenApiResponse(description="Not graded yet")})
    def post(self, request: Request, pk: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attempt = selectors.attempt_get(pk=pk, user=request.user)
        attempt = services.attempt_override(attempt=attempt, reviewer=request.user, **data.validated_data)
        return Response(AttemptOutput(attempt).data)


class AttemptRegradeApi(APIView):
    """Authors: grade an answer again against its question's current key points (a new grade;
    the earlier ones stay)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=TAGS, summary="Regrade an answer (authors)", request=None,
                   responses={200: AttemptOutput, 403: OpenApiResponse(description="Not an author"),
                              404: OpenApiResponse(), 409: OpenApiResponse(description="A code answer")})
    def post(self, request: Request, pk: int) -> Response:
        attempt = selectors.attempt_get(pk=pk, user=request.user)
        return Response(AttemptOutput(services.attempt_regrade(attempt=attempt, reviewer=request.user)).data)


class QueueItemOutput(serializers.Serializer):
    question = QuestionOutput()
    due = serializers.DateTimeField()
    last_score = serializers.IntegerField(allow_null=True)
    retrievability = serializers.FloatField(help_text="Estimated chance you still recall it (FSRS).")
    reviews = serializers.IntegerField()


class QueueApi(APIView):
    """Your due queue: what FSRS says you are about to forget, most overdue first."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        due = QueueItemOutput(many=True)
        due_count = serializers.IntegerField()
        upcoming = QueueItemOutput(many=True, help_text="Due within the next 30 days.")
        desired_retention = serializers.FloatField()

    @extend_schema(tags=TAGS, summary="Your due review queue", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        data = {"due": selectors.due_queue(user=request.user), "due_count": selectors.due_count(user=request.user),
                "upcoming": selectors.upcoming(user=request.user),
                "desired_retention": settings.QUIZ_DESIRED_RETENTION}
        return Response(self.OutputSerializer(data).data)


class MockQuestionOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    category = serializers.CharField()
    score = serializers.IntegerField(allow_null=True)
    answered = serializers.BooleanField()
    pending = serializers.BooleanField()
    url = serializers.CharField()


class MockTopicOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()
    score = serializers.IntegerField()


class MockLinkOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()


class MockReportOutput(serializers.Serializer):
    questions = MockQuestionOutput(many=True)
    score = serializers.IntegerField()
    answered = serializers.IntegerField()
    total = serializers.IntegerField()
    weakest_topics = MockTopicOutput(many=True)
    review_next = MockLinkOutput(many=True)


class MockOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=MockSession.Status.choices)
    duration_seconds = serializers.IntegerField()
    seconds_left = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    report = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    def get_seconds_left(self, mock: MockSession) -> int:
        return selectors.mock_seconds_left(mock)

    @extend_schema_field(MockReportOutput)
    def get_report(self, mock: MockSession) -> dict:
        return selectors.mock_report(mock)


class MockListApi(ListApi):
    """Your mock interviews (GET) and starting one (POST)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        minutes = serializers.IntegerField(min_value=5, max_value=120, required=False)
        phase = serializers.IntegerField(min_value=0, max_value=5, required=False,
                                         help_text="Only questions up to this roadmap phase.")

    @extend_schema(tags=TAGS, summary="List your mock interviews", responses=MockOutput(many=True))
    def get(self, request: Request) -> Response:
        mocks = list(selectors.mock_list(user=request.user)[:200])
        for mock in mocks:
            services.mock_expire(mock)
        return self.paginated(request, selectors.mock_list(user=request.user), MockOutput)

    @extend_schema(tags=TAGS, summary="Start a mock interview", request=InputSerializer,
                   responses={201: MockOutput, 403: OpenApiResponse(description="Not a learner account"),
                              409: OpenApiResponse(description="Three already in progress")})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mock = services.mock_start(user=request.user, **data.validated_data)
        return Response(MockOutput(mock).data, status=status.HTTP_201_CREATED)


class MockDetailApi(APIView):
    """One of your mock interviews, with its live report."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=TAGS, summary="Get one of your mock interviews",
                   responses={200: MockOutput, 404: OpenApiResponse()})
    def get(self, request: Request, pk: int) -> Response:
        mock = services.mock_expire(selectors.mock_get(pk=pk, user=request.user))
        return Response(MockOutput(mock).data)


class MockFinishApi(APIView):
    """End one of your mock interviews now (idempotent) and get its report."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=TAGS, summary="Finish a mock interview", request=None,
                   responses={200: MockOutput, 404: OpenApiResponse()})
    def post(self, request: Request, pk: int) -> Response:
        mock = services.mock_finish(mock=selectors.mock_get(pk=pk, user=request.user), user=request.user)
        return Response(MockOutput(mock).data)
