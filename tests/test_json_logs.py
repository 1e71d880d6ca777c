"""LOG_FORMAT=json on a real ``aqta serve``: one JSON object per line, request ids in, secrets out.

A canary test: the traffic carries marker strings where secrets and request text
travel (a password at sign-up and a wrong one at login, API keys in the header,
a webhook's secret and its URL's token, prompt text and the ``user`` field, streamed
and not), and none of them may appear anywhere in what the server wrote.
"""
from __future__ import annotations

import json
import uuid

import openai
import pytest
import requests

from tests.conftest import first_backend_only
from tests.support import wait_for
from tests.support.serve import SERVE_LOG, free_port, fresh_env, start_serve

MARK = uuid.uuid4().hex[:8]
PASSWORD = f"Canary password {MARK} 9!"
WRONG_PASSWORD = f"Wrong canary {MARK} 7?"
PROMPT = f"Patient canary-prompt-{MARK} reports chest pain"
END_USER = f"canary-user-{MARK}"
URL_TOKEN = f"canary-url-token-{MARK}"
WRONG_KEY = f"sk-aqta-canarywrongkey{MARK}"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_json_lines_carry_request_ids_and_never_a_secret(request, database_url, openai_upstream, receiver,
                                                         tmp_path, level):
    first_backend_only(request, "the log format, not the database, is under test")
    env = fresh_env(DATABASE_URL=f"sqlite:///{tmp_path}/aqta.db", LOG_FORMAT="json", LOG_LEVEL=level,
                    SECRET_KEY="json-logs-secret-key-0123456789", XDG_RUNTIME_DIR=str(tmp_path),
                    OPENAI_API_KEY="upstream-key", OPENAI_BASE_URL=f"{openai_upstream.url}/v1",
                    WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_RETRY_SCHEDULE="0.2")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_serve(tmp_path, port, env)
    secrets, ids = [PASSWORD, WRONG_PASSWORD, PROMPT, END_USER, URL_TOKEN, WRONG_KEY], {}
    try:
        browser = requests.Session()
        email = f"canary-{MARK}@example.com"
        signed_up = browser.post(f"{base}/api/auth/signup", json={"email": email, "password": PASSWORD})
        assert signed_up.status_code == 201
        refused = requests.post(f"{base}/api/auth/login", json={"email": email, "password": WRONG_PASSWORD})
        assert refused.status_code == 401
        made = browser.post(f"{base}/api/keys", json={"name": "canary", "scope": "admin"})
        assert made.status_code == 201
        key = made.json()["key"]
        secrets.append(key)
        hook = requests.post(f"{base}/api/webhooks", headers={"Authorization": f"Bearer {key}"},
                             json={"url": f"{receiver.url}/hook?token={URL_TOKEN}"})
        assert hook.status_code == 201
        secrets.append(hook.json()["secret"])
        tested = requests.post(f"{base}/api/webhooks/{hook.json()['id']}/test",
                               headers={"Authorization": f"Bearer {key}"})
        assert tested.status_code == 202
        wait_for(lambda: receiver.received, "the webhook's delivery")

        sdk = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        asked = {"model": "gpt-4o-mini", "user": END_USER, "messages": [{"role": "user", "content": PROMPT}]}
        answered = sdk.chat.completions.with_raw_response.create(**asked)
        ids[answered.headers["x-request-id"]] = ("/v1/chat/completions", 200)
        streamed = sdk.chat.completions.with_raw_response.create(**asked, stream=True)
        assert list(streamed.parse())
        ids[streamed.headers["x-request-id"]] = ("/v1/chat/completions", 200)
        openai_upstream.fail_next(status=400, body={"error": {"message": f"bad input: {PROMPT}"}})
        with pytest.raises(openai.InternalServerError) as failed:  # 502 provider_error
            sdk.chat.completions.create(**asked)
        ids[failed.value.response.headers["x-request-id"]] = ("/v1/chat/completions", 502)
        bad = requests.post(f"{base}/v1/chat/completions", headers={"Authorization": f"Bearer {WRONG_KEY}"},
                            json=asked)
        assert bad.status_code == 401
        invalid = requests.post(f"{base}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                json={**asked, "messages": [{"role": PROMPT, "content": PROMPT}]})
        assert invalid.status_code == 400
        ids[invalid.headers["x-request-id"]] = ("/v1/chat/completions", 400)
        sdk.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    written = (tmp_path / SERVE_LOG).read_text()
    leaked = [secret for secret in secrets if secret in written or secret.replace(" ", "") in written]
    assert leaked == [], f"secrets in the log: {leaked}"
    assert MARK not in written
    lines = [json.loads(line) for line in written.splitlines() if line.strip()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "aqta.access"}
    key_id = made.json()["id"]
    for request_id, (route, status) in ids.items():
        line = access[request_id]
        assert (line["route"], line["status"], line["key_id"]) == (route, status, key_id)
        assert line["method"] == "POST" and line["latency_ms"] >= 0
