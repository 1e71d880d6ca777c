"""An openai-SDK session against `aqta serve`, every provider pointed at its loopback fake.

    python benchmarks/sdk_session.py

Prints, per provider, a plain answer, a streamed one and a tool call, with the
`aqta` block: the same shapes whichever provider answers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from openai import OpenAI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fakes.anthropic_upstream import FakeAnthropic  # noqa: E402
from tests.fakes.gemini_upstream import Answer, FakeGemini  # noqa: E402
from tests.fakes.openai_upstream import FakeOpenAI, FakePerplexity  # noqa: E402
from tests.gateway.admission.quota_race import AQTA, free_port, wait_ready  # noqa: E402

MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-0", "google": "gemini-2.5-flash",
          "perplexity": "sonar"}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK = [{"role": "user", "content": "Weather in Dublin?"}]


def main() -> None:
    fakes = {"openai": FakeOpenAI().start(), "perplexity": FakePerplexity().start(),
             "anthropic": FakeAnthropic().start(), "google": FakeGemini().start()}
    fakes["openai"].answer(tool_name="get_weather")  # only when tools are offered
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        for name, fake in fakes.items():
            env[f"{name.upper()}_API_KEY"] = "upstream-key"
            env[f"{name.upper()}_BASE_URL"] = fake.url + ("/v1" if name == "openai" else "")
        subprocess.run([AQTA, "migrate"], env=env, cwd=folder, check=True, capture_output=True)
        key = subprocess.run([AQTA, "create-key", "--email", "sdk@example.com", "--tier", "pro"],
                             env=env, cwd=folder, check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1]
        port = free_port()
        server = subprocess.Popen([AQTA, "serve", "--port", str(port)], env=env, cwd=folder,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}", server)
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
            for provider, model in MODELS.items():
                answer = client.chat.completions.create(model=model, messages=ASK)
                print(f"{provider:10} chat   {answer.choices[0].message.content[:40]!r:44} "
                      f"usage={answer.usage.prompt_tokens}/{answer.usage.completion_tokens} "
                      f"aqta={json.dumps(answer.model_extra['aqta'])}")
                chunks = list(client.chat.completions.create(
                    model=model, messages=ASK, stream=True, stream_options={"include_usage": True}))
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                print(f"{provider:10} stream {len(chunks)} chunks, role={chunks[0].choices[0].delta.role}, "
                      f"same text: {text == answer.choices[0].message.content}, "
                      f"final aqta={json.dumps(chunks[-1].model_extra['aqta'])}")
                if provider == "google":
                    fakes["google"].answer = Answer.function_calls(("get_weather", {"city": "Dublin"}))
                if provider == "anthropic":
                    fakes["anthropic"].answer(tool_calls=[("get_weather", {"city": "Dublin"})])
                if provider != "perplexity":  # Perplexity's API has no function calling
                    call = client.chat.completions.create(
                        model=model, messages=ASK, tools=[TOOL],
                        tool_choice={"type": "function", "function": {"name": "get_weather"}}
                    ).choices[0].message.tool_calls[0]
                    print(f"{provider:10} tool   {call.function.name}({call.function.arguments})")
        finally:
            server.terminate()
            server.wait(timeout=20)
            for fake in fakes.values():
                fake.stop()


if __name__ == "__main__":
    main()
