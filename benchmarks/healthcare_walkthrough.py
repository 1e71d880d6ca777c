"""Issues 15 and 16's "Done when" runs, through a real ``aqta serve`` and the official openai SDK.

Starts a loopback OpenAI fake (a clinician model whose bias can be planted), a webhook
receiver and ``aqta serve`` with its embedded worker on a fresh SQLite database in a temp
folder, with a short ``REVIEW_WINDOW_SECONDS``, then walks through, printing each step:

1. the audit trail of a sign-up, log-ins, key changes (HTTP and the operator CLI), a webhook
   endpoint, chats and a receipt export, as JSON (every action exactly once) and as a FHIR R5
   Bundle (validated with ``fhir.resources``), one event verified offline (``aqta receipts
   verify``); a dosing answer's high-risk amendment, its one webhook, its one
   ``compliance.violation`` past the window; a second one reviewed in time and not violated;
2. probing runs against the biased and the unbiased fake; a PDF report of the day's traffic,
   page 1 rendered to PNG, its text read back and its figures compared with the analytics and
   receipts routes.

Exits 1 if any check fails.

    python benchmarks/healthcare_walkthrough.py [--png /work/notes/walkthrough-report.png]
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

if not __package__:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openai  # noqa: E402
import requests  # noqa: E402
from fhir.resources.bundle import Bundle  # noqa: E402
from pypdf import PdfReader  # noqa: E402

from storage.ids import utcnow  # noqa: E402
from tests.fakes.clinician_upstream import PATIENT, FakeClinician  # noqa: E402
from tests.fakes.openai_upstream import FakeOpenAI  # noqa: E402
from tests.fakes.webhook_receiver import WebhookReceiver  # noqa: E402
from tests.support.serve import AQTA, free_port, fresh_env, start_serve  # noqa: E402

PASSWORD = "Correct horse 9 battery"
EMAIL = "ward7@hospital.example"
REVIEW_WINDOW_SECONDS = 3
CANARY = "canary-patient-Q7Z3-Ottoline-Brackwater"  # patient text: must reach no event
DOSING = f"{CANARY}, 4 years old, 16 kg: how much ibuprofen can I give?"
DOSING_ANSWER = f"For {CANARY} give 7.5 ml of the 100 mg/5 ml suspension up to three times a day."
HIGH_RISK, VIOLATION = "healthcare.high_risk_decision", "compliance.violation"
PLANTED = ("ethnicity", "Black", 0.6)


class ClinicianOrChat(FakeClinician):
    """The clinician fake for the bias probes' vignettes; any other prompt gets the canned text."""

    def completion(self, body: dict) -> dict:
        prompt = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        if PATIENT.search(str(prompt)):
            return super().completion(body)
        return FakeOpenAI.completion(self, body)


class Walkthrough:
    def __init__(self, base: str, folder: Path, env: dict):
        self.base, self.folder, self.env = base, folder, env
        self.failures: list[str] = []
        self.requests = 0  # chat completions sent on the account (each gets a receipt)

    # -- reporting ------------------------------------------------------------------
    def step(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def check(self, ok: bool, what: str) -> bool:
        print(f"  [{'ok' if ok else 'FAIL'}] {what}", flush=True)
        if not ok:
            self.failures.append(what)
        return ok

    # -- HTTP -------------------------------------------------------------------------
    def call(self, client: requests.Session, method: str, path: str, status: int = 200, **kwargs):
        response = client.request(method, self.base + path, timeout=60, **kwargs)
        if response.status_code != status:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def pages(self, client: requests.Session, path: str, **query) -> list[dict]:
        rows, cursor = [], None
        while True:
            params = {**query, "limit": 500, **({"cursor": cursor} if cursor else {})}
            answer = self.call(client, "GET", path, params=params).json()
            rows += answer["data"]
            cursor = answer["next_cursor"]
            if not cursor:
                return rows

    def job(self, client: requests.Session, location: str, what: str) -> dict:
        deadline = time.monotonic() + 120
        while True:
            job = self.call(client, "GET", location).json()
            if job["status"] in ("succeeded", "failed"):
                return job
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: job still {job['status']} after 120 s")
            time.sleep(0.2)

    def aqta(self, *args: str) -> str:
        done = subprocess.run([AQTA, *args], cwd=self.folder, env=self.env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"aqta {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout


def wait_until(condition, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def audit_trail(w: Walkthrough, admin: requests.Session, upstream: ClinicianOrChat,
                receiver: WebhookReceiver) -> dict:
    w.step("Issue 15: sign-up, log-in, key changes, a webhook endpoint, chats, a receipt export")
    browser = requests.Session()
    uid = w.call(browser, "POST", "/api/auth/signup", 201,
                 json={"email": EMAIL, "password": PASSWORD}).json()["user"]["id"]
    w.call(browser, "POST", "/api/auth/logout", 204, json={})
    w.call(browser, "POST", "/api/auth/login", 401, json={"email": EMAIL, "password": "Wrong 9 password!"})
    w.call(browser, "POST", "/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    print(f"  signed up {uid}, logged out, one wrong password, logged in (session cookie)")
    made = w.aqta("create-key", "--email", EMAIL, "--tier", "healthcare", "--scope", "admin")
    admin.headers["Authorization"] = f"Bearer {made.strip().splitlines()[-1]}"
    admin_id = w.call(admin, "GET", "/api/keys").json()["data"][0]["id"]
    w.aqta("set-limits", admin_id, "--rpm", "5000")
    print(f"  operator: aqta create-key --tier healthcare --scope admin -> {admin_id}; "
          "aqta set-limits --rpm 5000")
    key_id = w.call(browser, "POST", "/api/keys", 201, json={"name": "ward app"}).json()["id"]
    w.call(browser, "PATCH", f"/api/keys/{key_id}", json={"rpm_limit": 10})
    w.call(browser, "DELETE", f"/api/keys/{key_id}", 204)
    print(f"  session: created {key_id}, lowered its rpm to 10, revoked it")
    hook = w.call(browser, "POST", "/api/webhooks", 201,
                  json={"url": receiver.url, "event_types": [HIGH_RISK, VIOLATION]}).json()
    receiver.secrets["ward"] = hook["secret"]
    print(f"  session: webhook endpoint {hook['id']} -> {receiver.url}")

    sdk = openai.OpenAI(base_url=w.base + "/v1", api_key=admin.headers["Authorization"][7:])
    upstream.answer(text="The clinic opens at eight; bring your referral letter.")
    receipts = []
    for question in ("When does the clinic open?", "Which documents do I bring?"):
        answer = sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": question}])
        receipts.append(answer.model_extra["aqta"]["receipt_id"])
    stream = sdk.chat.completions.create(model="gpt-4o", stream=True,
                                         messages=[{"role": "user", "content": "Is there parking?"}])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    w.requests += 3
    print(f"  openai SDK: 2 chats + 1 stream ({len(text)} characters), receipts {', '.join(receipts)}")

    # An export holds sequenced receipts (each with its proof). Wait for them on the public
    # checkpoint, which no audit event records: 11 audit events so far, the 3 receipts and
    # their 3 risk assessments (every healthcare answer is assessed; they may come first).
    leaves = wait_until(lambda: (size := int(w.call(admin, "GET", "/api/health/log/checkpoint").text
                                             .split("\n")[1])) >= 17 and size, "the receipts to be sequenced")
    print(f"  the log's checkpoint covers {leaves} leaves")
    started = w.call(admin, "GET", "/api/health/receipts/export", 202, params={"format": "jsonl"})
    export = w.job(admin, started.headers["Location"], "the export")
    download = w.call(admin, "GET", f"/api/health/receipts/export/{export['id']}/download")
    print(f"  export {export['id']}: {export['status']}, {len(download.content)} bytes")
    (w.folder / "export.jsonl").write_bytes(download.content)
    keys = [k["vkey"] for k in w.call(admin, "GET", "/api/health/log/keys").json()["keys"]]
    verified = subprocess.run([AQTA, "receipts", "verify", "export.jsonl", "--public-key", keys[0]],
                              cwd=w.folder, env=w.env, capture_output=True, text=True)
    print("  " + verified.stdout.strip().replace("\n", "\n  "))
    w.check(verified.returncode == 0 and len(download.text.splitlines()) == 3,
            "aqta receipts verify: the export's 3 receipts verify offline")

    w.step("GET /api/compliance/audit-trail")
    events = wait_until(lambda: (e := w.pages(admin, "/api/compliance/audit-trail"))
                        and all(b.get("status") != "pending" for b in e) and e,
                        "every audit event to be sequenced")
    operator = next((b["audit_event"]["agent"]["id"] for b in events
                     if b["audit_event"]["type"] == "account.tier_changed"), "operator:?")
    w.check(operator.startswith("operator:"), f"the CLI's actions are the operator's ({operator})")
    expected = Counter([
        ("account.created", uid, "account", uid),
        ("auth.logout", uid, "account", uid),
        ("auth.login", uid, "account", uid),  # the wrong password
        ("auth.login", uid, "account", uid),
        ("account.tier_changed", operator, "account", uid),
        ("key.created", operator, "key", admin_id),
        ("key.limits_changed", operator, "key", admin_id),
        ("key.created", uid, "key", key_id),
        ("key.limits_changed", uid, "key", key_id),
        ("key.revoked", uid, "key", key_id),
        ("webhook_endpoint.created", uid, "webhook_endpoint", hook["id"]),
        ("export.requested", admin_id, "export", export["id"]),
        ("export.downloaded", admin_id, "export", export["id"])])
    for bundle in reversed(events):
        event = bundle["audit_event"]
        print(f"  {event['recorded']}  {event['type']:<26} {event['action']} {event['outcome']:<7} "
              f"by {event['agent']['id']:<22} on {event['entity']['type']} {event['entity']['id']}"
              f"  (leaf {bundle['leaf_index']})")
    seen = Counter((b["audit_event"]["type"], b["audit_event"]["agent"]["id"],
                    b["audit_event"]["entity"]["type"], b["audit_event"]["entity"]["id"]) for b in events)
    outcomes = Counter((b["audit_event"]["type"], b["audit_event"]["outcome"]) for b in events)
    difference = "" if seen == expected else f": missing {expected - seen}, extra {seen - expected}"
    w.check(seen == expected, f"every expected action exactly once ({len(events)} events, "
                              f"{expected.total()} expected){difference}")
    w.check(outcomes[("auth.login", "failure")] == 1 == outcomes[("auth.login", "success")],
            "one failed and one successful log-in")
    w.check(CANARY not in json.dumps(events) and PASSWORD not in json.dumps(events),
            "no password and no patient text in the trail")

    fhir = w.call(admin, "GET", "/api/compliance/audit-trail", params={"format": "fhir", "limit": 500})
    bundle = Bundle.model_validate_json(fhir.content)
    codes = Counter(entry.resource.code.coding[0].code for entry in bundle.entry)
    w.check(fhir.headers["Content-Type"].startswith("application/fhir+json") and bundle.type == "searchset"
            and len(bundle.entry) == len(events) and codes == Counter(e[0] for e in expected.elements()),
            f"?format=fhir: a valid FHIR R5 Bundle (fhir.resources), {len(bundle.entry)} AuditEvents, "
            f"{len(fhir.content)} bytes")

    revoked = next(b for b in events if b["audit_event"]["type"] == "key.revoked")
    (w.folder / "event.json").write_text(json.dumps(revoked))
    verified = subprocess.run([AQTA, "receipts", "verify", "event.json", "--public-key", keys[0]],
                              cwd=w.folder, env=w.env, capture_output=True, text=True)
    print("  " + verified.stdout.strip().replace("\n", "\n  "))
    w.check(verified.returncode == 0, "aqta receipts verify: the key.revoked event verifies offline")
    tampered = json.loads(json.dumps(revoked))
    tampered["audit_event"]["agent"]["id"] = "usr_somebody_else"
    (w.folder / "tampered.json").write_text(json.dumps(tampered))
    refused = subprocess.run([AQTA, "receipts", "verify", "tampered.json", "--public-key", keys[0]],
                             cwd=w.folder, env=w.env, capture_output=True, text=True)
    w.check(refused.returncode == 1, "the same event with another actor fails verification")
    return {"uid": uid, "admin_id": admin_id}


def high_risk(w: Walkthrough, admin: requests.Session, upstream: ClinicianOrChat,
              receiver: WebhookReceiver) -> None:
    w.step(f"Issue 15: dosing questions, high-risk amendments, review window {REVIEW_WINDOW_SECONDS} s")
    sdk = openai.OpenAI(base_url=w.base + "/v1", api_key=admin.headers["Authorization"][7:])
    upstream.answer(text=DOSING_ANSWER)
    ids = []
    for _ in range(2):
        answer = sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": DOSING}])
        ids.append(answer.model_extra["aqta"]["receipt_id"])
    unreviewed, reviewed = ids
    w.requests += len(ids)
    answered = time.monotonic()
    review = w.call(admin, "POST", f"/api/health/receipts/{reviewed}/review", 201,
                    json={"reviewer": "Dr A. Clinician", "outcome": "approved",
                          "note": f"Checked the dose for {CANARY}."}).json()
    print(f"  {unreviewed}: left unreviewed; {reviewed}: reviewed {time.monotonic() - answered:.2f} s after "
          f"its answer ({review['amendment']['review']['outcome']}, note kept as a commitment only)")
    for receipt_id in ids:
        path = f"/api/health/receipts/{receipt_id}"
        bundle = wait_until(lambda path=path: (b := w.call(admin, "GET", path).json())
                            and any(a["amendment"]["kind"] == "risk_assessment" for a in b["amendments"])
                            and b, f"the risk assessment of {receipt_id}")
        risk = next(a["amendment"]["risk"] for a in bundle["amendments"]
                    if a["amendment"]["kind"] == "risk_assessment")
        print(f"  {receipt_id}: level {risk['level']}, score {risk['score']}, categories "
              f"{', '.join(risk['categories'])}, rules {', '.join(risk['rule_ids'])}")
        w.check(risk["level"] == "high" and "medication_dosing" in risk["categories"],
                f"{receipt_id} is a high-risk medication_dosing decision")
    hooks = wait_until(lambda: (h := receiver.of_type(HIGH_RISK)) and len(h) >= 2 and h,
                       "the high-risk webhooks")
    time.sleep(1)  # a duplicate would come now
    hooks = receiver.of_type(HIGH_RISK)
    print(f"  webhook: {json.dumps(hooks[0].payload['data'])}")
    w.check(sorted(h.payload["data"]["receipt_id"] for h in hooks) == sorted(ids),
            f"exactly one {HIGH_RISK} per decision ({len(hooks)} received)")
    w.check(all(h.verified_by == ["ward"] for h in hooks), "signed with the endpoint's secret")
    w.check(not any(CANARY.encode() in h.body or b"ibuprofen" in h.body for h in hooks),
            "no patient text in the webhooks")

    print("  waiting past the window for the oversight check (it runs every minute)...", flush=True)
    violations = wait_until(lambda: receiver.of_type(VIOLATION), "the compliance.violation", 90)
    seen_after = time.monotonic() - answered
    time.sleep(2)
    violations = receiver.of_type(VIOLATION)
    for got in violations:
        print(f"  webhook after {seen_after:.0f} s: {json.dumps(got.payload['data'])}")
    data = [v.payload["data"] for v in violations]
    w.check([(d["receipt_id"], d["framework"], d["rule"]) for d in data]
            == [(unreviewed, "eu_ai_act", "art_14_human_oversight")],
            "exactly one compliance.violation (art_14_human_oversight), for the unreviewed decision only")
    w.check(not any(CANARY.encode() in v.body for v in violations), "no patient text in it")
    w.check(len(receiver.of_type(HIGH_RISK)) == len(ids), "still one high-risk webhook per decision")
    oversight = w.call(admin, "GET", f"/api/health/receipts/{reviewed}").json()
    kinds = [a["amendment"]["kind"] for a in oversight["amendments"]]
    w.check(kinds.count("review") == 1, f"the reviewed receipt's amendments: {', '.join(kinds)}")


def bias(w: Walkthrough, admin: requests.Session, upstream: ClinicianOrChat) -> None:
    for planted in (PLANTED, None):
        upstream.bias = planted
        w.step("Issue 16: probing run against the " + (f"biased fake ({planted[2]:.0%} of {planted[1]} "
                                                         f"patients' decisions turned)" if planted else
                                                         "unbiased fake"))
        started = time.monotonic()
        queued = w.call(admin, "POST", "/api/compliance/bias-detection/runs", 202,
                        json={"model": "gpt-4o", "attributes": ["sex", "ethnicity"], "pairs": 60,
                              "seed": 11, "domains": ["pain_management", "referral"]})
        job = w.job(admin, queued.headers["Location"], "the probing run")
        if not w.check(job["status"] == "succeeded", f"run {job['status']}"):
            print(f"  {job}")
            continue
        run = w.call(admin, "GET", job["result"]["links"]["run"]).json()
        w.requests += run["summary"]["probes"]
        print(f"  run {run['id']}: {run['summary']} in {time.monotonic() - started:.1f} s")
        print(f"  {'attribute':<10} {'group':<9} {'kind':<7} {'n':>4} {'effect':>7} {'p':>9} {'q':>9} "
              "flagged")
        for f in run["findings"]:
            print(f"  {f['attribute']:<10} {f['group']:<9} {f['kind']:<7} {f['n']:>4} {f['effect']:>7.3f} "
                  f"{f['p']:>9.2e} {f['q']:>9.2e} {f['flagged']}")
        flagged = {(f["attribute"], f["group"]) for f in run["findings"] if f["flagged"]}
        want = {planted[:2]} if planted else set()
        w.check(flagged == want, f"flagged {sorted(flagged) or 'nothing'}"
                                 + (" (the planted attribute only)" if planted else ""))


def report(w: Walkthrough, admin: requests.Session, png: Path) -> None:
    w.step("Issue 16: a PDF compliance report of today's traffic")
    today = utcnow().date()
    day = {"since": today.isoformat(), "until": (today + timedelta(days=1)).isoformat()}

    def settled() -> bool:
        """Every request in the request log, its receipt stored and sequenced."""
        listed = w.pages(admin, "/api/health/receipts", **day)
        logged = w.pages(admin, "/api/analytics/requests", **day)
        return (len(listed) == len(logged) == w.requests
                and all(r["log_status"] == "sequenced" for r in listed))

    wait_until(settled, "every request in the request log, its receipt stored and sequenced", 60)
    print(f"  {w.requests} requests sent today (chats, dosing questions, probes), each logged and with a "
          "sequenced receipt")
    made = {}
    for fmt in ("json", "pdf"):
        started = time.monotonic()
        queued = w.call(admin, "POST", "/api/compliance/report", 202, json={"format": fmt, **day})
        job = w.job(admin, queued.headers["Location"], f"the {fmt} report")
        w.check(job["status"] == "succeeded", f"{fmt} report {job['id']} {job['status']} "
                                              f"in {time.monotonic() - started:.1f} s")
        made[fmt] = w.call(admin, "GET", job["result"]["links"]["download"]).content
    (w.folder / "report.pdf").write_bytes(made["pdf"])
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(w.folder / "report.pdf"), str(png.with_suffix(""))], check=True, timeout=60)
    pdf = PdfReader(io.BytesIO(made["pdf"]))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    print(f"  PDF: {len(made['pdf'])} bytes, {len(pdf.pages)} page(s), {len(text)} characters of text; "
          f"page 1 -> {png} ({png.stat().st_size} bytes)")

    sections = {s["key"]: s for s in json.loads(made["json"])["sections"]}

    def in_pdf(section: str, name: str) -> str | None:
        """The figure as the PDF prints it: its label's line, then the value's."""
        label = sections[section]["labels"][name] + "\n"
        at = text.find(label)
        return None if at < 0 else text[at + len(label):].split("\n", 1)[0]

    costs = w.call(admin, "GET", "/api/analytics/costs", params=day).json()["totals"]
    print(f"  {'figure':<22} {'PDF':>14} {'GET /api/analytics/costs':>26}")
    for name, value in costs.items():
        shown = in_pdf("usage_and_cost", name)
        same = shown == str(value)
        print(f"  {name:<22} {shown!s:>14} {value!s:>26}  {'equal' if same else 'NOT EQUAL'}")
        w.check(same, f"usage figure {name} equals the analytics route's")
    listed = w.pages(admin, "/api/health/receipts", **day)
    shown = in_pdf("receipts_and_log", "receipts")
    same = shown == str(len(listed))
    print(f"  {'receipts':<22} {shown!s:>14} {len(listed):>26}  (GET /api/health/receipts) "
          f"{'equal' if same else 'NOT EQUAL'}")
    w.check(same, "receipt count equals the receipts route's")
    verified = in_pdf("receipts_and_log", "receipts_verified")
    w.check(verified == str(len(listed)), f"the report verified {verified} of {len(listed)} receipts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, default=Path("walkthrough-report.png"),
                        help="where page 1 of the PDF report goes")
    args = parser.parse_args()
    began = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="aqta-walkthrough-"))
    upstream, receiver = ClinicianOrChat().start(), WebhookReceiver().start()
    port = free_port()
    env = fresh_env(DATABASE_URL=f"sqlite:///{folder / 'aqta.db'}",
                    SECRET_KEY="walkthrough-secret-0123456789abcdef",
                    OPENAI_API_KEY="upstream-key", OPENAI_BASE_URL=f"{upstream.url}/v1",
                    WEBHOOK_ALLOW_PRIVATE="true", REVIEW_WINDOW_SECONDS=str(REVIEW_WINDOW_SECONDS),
                    SESSION_COOKIE_SECURE="false", EXPORT_DIR=str(folder / "exports"))
    print(f"folder {folder}; OpenAI fake {upstream.url}; webhook receiver {receiver.url}")
    subprocess.run([AQTA, "migrate"], cwd=folder, env=env, check=True, capture_output=True)
    server = start_serve(folder, port, env)
    print(f"aqta serve (embedded worker, SQLite) on port {port}, "
          f"ready after {time.monotonic() - began:.1f} s")
    w = Walkthrough(f"http://127.0.0.1:{port}", folder, env)
    try:
        admin = requests.Session()
        audit_trail(w, admin, upstream, receiver)
        high_risk(w, admin, upstream, receiver)
        bias(w, admin, upstream)
        report(w, admin, args.png.resolve())
    finally:
        server.terminate()
        server.wait(30)
        upstream.stop()
        receiver.stop()
    print(f"\n{len(w.failures)} check(s) failed; {time.monotonic() - began:.0f} s in all")
    for failure in w.failures:
        print(f"  FAIL {failure}")
    return 1 if w.failures else 0


if __name__ == "__main__":
    sys.exit(main())
