"""The offline default: no language model, no network. It answers by picking the sentences
of the supplied passages that share the most words with the question - an extractive
answer, labelled as such (``ChatResult.extractive``)."""

from __future__ import annotations

import re

from apps.llm.base import ChatResult, LLMProvider, Message, Usage

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
STOP = frozenset(
    "a an and are as at be by can do does for from how i if in is it me my of on or so that the this to was "
    "what when where which who why will with you your".split()
)


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOP and len(w) > 1}


class ExtractiveProvider(LLMProvider):
    name = "extractive"
    label = "Extractive (offline, no language model)"
    extractive = True

    def __init__(self, alias: str, options: dict) -> None:
        super().__init__(alias, options)
        self.model = "extractive"
        self.sentences = int(self.options.get("SENTENCES", 3))

    def chat(self, messages: list[Message], *, system: str = "", model: str = "", max_tokens: int = 800,
             temperature: float = 0.2) -> ChatResult:
        question = next((m.content for m in reversed(messages) if m.role == "user"), "")
        source = "\n".join([system, *(m.content for m in messages[:-1])])
        wanted = words(question)
        scored = []
        for order, sentence in enumerate(s.strip() for s in _SENTENCE.split(source)):
            if len(sentence) > 20:
                scored.append((len(wanted & words(sentence)), -order, sentence))
        best = [item for item in sorted(scored, reverse=True)[: self.sentences] if item[0] > 0]
        text = " ".join(s for _, _, s in sorted(best, key=lambda item: -item[1]))
        return ChatResult(text=text, model=self.model, provider=self.alias, usage=Usage(), extractive=True)

    def models(self) -> list[str]:
        return [self.model]
