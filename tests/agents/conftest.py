"""Faust's test context for the agent, as its testing guide sets it up, with sends captured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from streamproc.definitions import load_definition
from streamproc.settings import Settings
from streamproc.streaming.app import Outcome, Pipeline, create_app


@dataclass
class AgentHarness:
    """Puts raw messages on named input topics and records what the agent sent."""

    pipeline: Pipeline
    agent: Any
    sent: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)

    async def put(self, topic: str, key: bytes | None, value: bytes | None) -> Outcome:
        """Deliver one message as if read from `topic` and wait until the agent handled it."""
        message = self.agent.to_message(key, value, offset=self.agent.sent_offset)
        message.topic = self.pipeline.settings.topic(topic)
        channel = self.agent.stream().channel
        await channel.put(await channel.decode(message))
        self.agent.sent_offset += 1
        async with self.agent.new_value_processed:
            await self.agent.new_value_processed.wait()
        outcome: Outcome = self.agent.results[self.agent.processed_offset - 1]
        return outcome

    def sent_to(self, topic: str) -> list[dict[str, Any]]:
        return [value for name, _, value in self.sent if name == topic]


async def _harness(settings: Settings) -> AsyncIterator[AgentHarness]:
    pipeline = create_app(settings, load_definition("acme"))
    pipeline.app.finalize()
    pipeline.app.flow_control.resume()
    sent: list[tuple[str, bytes, dict[str, Any]]] = []
    for name, topic in pipeline.outputs.items():

        async def capture(*, key: bytes, value: bytes, _name: str = name) -> None:
            sent.append((_name, key, orjson.loads(value)))

        topic.send = capture
    async with pipeline.agent.test_context() as agent:
        yield AgentHarness(pipeline, agent, sent)
    # The consumer is created but never started in a test context, so the event loop of its
    # thread is never closed by Faust; close it here rather than leak it into later tests.
    pipeline.app.consumer._thread.thread_loop.close()


@pytest.fixture
async def harness() -> AsyncIterator[AgentHarness]:
    """The agent on the Acme definition."""
    async for running in _harness(Settings(topic_prefix="agent-test.", store="memory://")):
        yield running


@pytest.fixture
async def shadow_harness() -> AsyncIterator[AgentHarness]:
    """The agent on Acme, with the default definition scored in its shadow."""
    settings = Settings(topic_prefix="agent-test.", shadow_definition="default")
    async for running in _harness(settings):
        yield running
