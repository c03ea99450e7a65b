"""The clients users actually have: the OpenAI Python SDK, and (optional extra) the OpenAI Agents SDK.

Both reuse the injected httpx clients, so they run against whatever transport the suite was given.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from smoke.checks.chat import record_reasoning
from smoke.context import CheckContext
from smoke.limits import ClientLimit, DeadlineExceeded, within
from smoke.reasoning import find_reasoning
from smoke.result import CheckResult, Recorder, skipped

MAX_TURNS = 4
AGENT_PROMPT = "What is the weather like in Paris right now? Use the get_weather tool, then answer."


def _sdk_key(ctx: CheckContext) -> str:
    # The SDKs refuse an empty key; a server started without --api-key accepts any.
    return ctx.endpoint.api_key or "no-key-configured"


def _describe_sdk_error(ctx: CheckContext, exc: Exception) -> str:
    """The SDK's error in one line: the server's words redacted before they are cut, and a deadline or
    a size cap named as such (the SDK wraps them as a generic timeout or connection error)."""
    import openai

    cause = exc.__cause__
    if isinstance(cause, DeadlineExceeded | ClientLimit):
        text = f"{type(exc).__name__}: {cause}"
    elif isinstance(exc, openai.APIStatusError):
        text = f"{type(exc).__name__}: HTTP {exc.status_code}: {exc.message}"
    elif isinstance(exc, openai.APITimeoutError):
        text = "APITimeoutError: the request timed out; raise --timeout if the server is just slow"
    elif isinstance(exc, openai.APIConnectionError):
        text = f"APIConnectionError: cannot reach the server: {cause or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return ctx.redact.clip(text, 500)


def check_openai_sdk(ctx: CheckContext, rec: Recorder) -> CheckResult:
    import openai

    rec.info["openai_version"] = openai.__version__
    ep = ctx.endpoint
    # max_retries=0: a smoke test must see the first failure, not hide it behind retries.
    client = openai.OpenAI(
        base_url=ep.base_url,
        api_key=_sdk_key(ctx),
        http_client=ctx.client,
        max_retries=0,
        timeout=ep.request_timeout_s,
    )
    try:
        # The SDK reads the whole answer inside the call, so one deadline covers the request.
        with within(*ctx.request_budget()):
            ids = [m.id for m in client.models.list()]
    except openai.OpenAIError as exc:
        return rec.fail("models.list", _describe_sdk_error(ctx, exc))
    rec.sub(
        "models.list",
        ep.model in ids,
        f"{len(ids)} model(s); {ep.model!r} {'listed' if ep.model in ids else 'missing'}",
    )
    try:
        with within(*ctx.request_budget()):
            completion = client.chat.completions.create(
                model=ep.model,
                messages=[{"role": "user", "content": "Say hello in one short sentence."}],
                max_tokens=ctx.options.max_tokens,
            )
    except openai.OpenAIError as exc:
        return rec.fail("chat.completions.create", _describe_sdk_error(ctx, exc))
    choice = completion.choices[0] if completion.choices else None
    content = (choice.message.content or "") if choice else ""
    rec.sub("chat.completions.create", bool(content.strip()), f"{len(content)} chars: {ctx.quote(content)}")
    # The SDK keeps fields it does not model (reasoning) as extras on the message.
    extras: dict[str, Any] = dict(choice.message.model_extra or {}) if choice else {}
    text, field = find_reasoning(extras)
    record_reasoning(ctx, rec, text, field, "message")
    return rec.result()


def check_agents_sdk(ctx: CheckContext, rec: Recorder) -> CheckResult:
    try:
        import agents
    except ImportError:
        return skipped(
            rec.name,
            "openai-agents is not installed (optional): `uv sync --extra agents` or `pip install openai-agents`",
        )
    import openai

    ep = ctx.endpoint
    calls: list[dict[str, Any]] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append({"city": city})
        return json.dumps({"city": city, "temperature_c": 18, "conditions": "sunny"})

    # Tracing would try to upload spans to api.openai.com; an endpoint check must talk to the endpoint only.
    agents.set_tracing_disabled(True)

    async def run() -> Any:
        async with ctx.async_client_factory() as http_client:
            client = openai.AsyncOpenAI(
                base_url=ep.base_url,
                api_key=_sdk_key(ctx),
                http_client=http_client,
                max_retries=0,
                timeout=ep.request_timeout_s,
            )
            agent = agents.Agent(
                name="smoke",
                instructions="You answer weather questions. Call get_weather, then answer in one sentence.",
                tools=[get_weather],
                model=agents.OpenAIChatCompletionsModel(model=ep.model, openai_client=client),
                model_settings=agents.ModelSettings(max_tokens=ctx.options.max_tokens),
            )
            return await agents.Runner.run(agent, AGENT_PROMPT, max_turns=MAX_TURNS)

    rec.info["agents_version"] = getattr(agents, "__version__", "")
    try:
        # A request per turn at most: the run gets --timeout once per turn.
        with within(ep.request_timeout_s * MAX_TURNS, f"--timeout for each of {MAX_TURNS} turns"):
            result = asyncio.run(run())
    except agents.MaxTurnsExceeded:
        rec.sub(
            "tool_called",
            bool(calls),
            f"get_weather called {len(calls)} time(s): {ctx.quote(calls[:2], 200)}",
        )
        return rec.fail(
            "final_output", f"hit max_turns={MAX_TURNS}: the model kept calling tools and never answered"
        )
    except (agents.AgentsException, openai.OpenAIError) as exc:
        rec.sub("tool_called", bool(calls), f"get_weather called {len(calls)} time(s)")
        return rec.fail("run", _describe_sdk_error(ctx, exc))
    rec.sub(
        "tool_called",
        bool(calls),
        f"get_weather called with {calls[0]}" if calls else "the agent never called get_weather",
    )
    output = str(result.final_output or "")
    rec.sub("final_output", bool(output.strip()), f"{len(output)} chars: {ctx.quote(output)}")
    return rec.result()
