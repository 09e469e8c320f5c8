"""modelbus-echo: a provider that answers with the last user message."""

import re
from collections.abc import Callable, Iterator

import attrs

from modelbus import ChatChunk, ChatRequest, ChatResponse, Message, hookimpl


@attrs.frozen
class EchoSettings:
    """``[providers.echo]``: ``prefix`` goes before the echoed text; ``upper``: shout it."""

    prefix: str = "echo: "
    upper: bool = False


class EchoProvider:
    name = "echo"
    default_model = "echo-1"  # used when neither the call nor the config names a model

    def __init__(self, settings: EchoSettings) -> None:
        self.settings = settings

    def chat(self, request: ChatRequest) -> ChatResponse:
        text = self.settings.prefix + request.messages[-1].text
        reply = Message("assistant", text.upper() if self.settings.upper else text)
        return ChatResponse(id="echo-1", model=request.model, message=reply, finish_reason="stop")

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        for word in re.findall(r"\S+\s*", self.chat(request).message.text):
            yield ChatChunk(model=request.model, content=word)
        yield ChatChunk(model=request.model, finish_reason="stop")


@hookimpl
def modelbus_register_providers(register: Callable[..., None]) -> None:
    register("echo", EchoProvider, settings=EchoSettings, description="Echoes the prompt")
