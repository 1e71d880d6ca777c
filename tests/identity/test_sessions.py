"""Session cookies through HTTP: log-out and password change end them on the server; they
have an idle and an absolute lifetime."""
import pytest

from app.identity.sessions import SEEN, STARTED
from tests.conftest import PASSWORD

LOGIN, LOGOUT, PASSWORD_URL = "/api/auth/login", "/api/auth/logout", "/api/auth/password"


def signed_in(app, email):
    client = app.test_client()
    assert client.post(LOGIN, json={"email": email, "password": PASSWORD}).status_code == 200
    return client


def cookie_of(client) -> str:
    return client.get_cookie("aqta_session").value


def replay(app, cookie: str):
    """A browser that kept a copy of the cookie."""
    other = app.test_client()
    other.set_cookie("aqta_session", cookie)
    return other


def test_a_cookie_saved_before_logout_no_longer_works(app, make_account):
    account = make_account()
    client = signed_in(app, account.user.email)
    saved = cookie_of(client)
    assert replay(app, saved).get("/api/auth/me").status_code == 200
    assert client.post(LOGOUT).status_code == 204
    stale = replay(app, saved)
    response = stale.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "not_authenticated"
    assert stale.post("/api/keys", json={}).status_code == 401


def test_a_cookie_copied_into_another_browser_does_not_sign_it_in(app, make_account):
    account = make_account()
    client = signed_in(app, account.user.email)
    thief = replay(app, cookie_of(client))
    response = thief.get("/api/auth/me", headers={"User-Agent": "Another browser/1.0"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "not_authenticated"
    elsewhere = replay(app, cookie_of(client)).get("/api/auth/me",
                                                   environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert elsewhere.status_code == 401
    assert client.get("/api/auth/me").status_code == 200  # the browser that signed in keeps its session


def test_logout_ends_the_accounts_other_sessions_too(app, make_account):
    account = make_account()
    laptop, phone = signed_in(app, account.user.email), signed_in(app, account.user.email)
    laptop.post(LOGOUT)
    assert phone.get("/api/auth/me").status_code == 401
    again = signed_in(app, account.user.email)
    assert again.get("/api/auth/me").status_code == 200


def test_a_password_change_ends_every_other_session(app, make_account):
    account = make_account()
    client, other = signed_in(app, account.user.email), signed_in(app, account.user.email)
    saved = cookie_of(client)
    changed = client.post(PASSWORD_URL, json={"current_password": PASSWORD,
                                              "new_password": "A brand new one 77"})
    assert changed.status_code == 200, changed.json
    assert changed.json["user"]["id"] == account.user.id
    assert client.get("/api/auth/me").status_code == 200  # renewed
    assert other.get("/api/auth/me").status_code == 401
    assert replay(app, saved).get("/api/auth/me").status_code == 401
    assert app.test_client().post(LOGIN, json={"email": account.user.email,
                                               "password": PASSWORD}).status_code == 401
    assert app.test_client().post(LOGIN, json={"email": account.user.email,
                                               "password": "A brand new one 77"}).status_code == 200


@pytest.mark.parametrize("body, status, code", [
    ({"current_password": "Wrong one 12345", "new_password": "A brand new one 77"}, 401,
     "invalid_credentials"),
    ({"new_password": "A brand new one 77"}, 401, "invalid_credentials"),
    ({"current_password": PASSWORD, "new_password": "short"}, 400, "weak_password"),
])
def test_a_password_change_needs_the_current_password_and_a_strong_new_one(
        app, make_account, body, status, code):
    account = make_account()
    client = signed_in(app, account.user.email)
    response = client.post(PASSWORD_URL, json=body)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert client.get("/api/auth/me").status_code == 200


def test_an_api_key_cannot_change_the_password(client, make_account):
    account = make_account()
    response = client.post(PASSWORD_URL, json={"current_password": PASSWORD,
                                               "new_password": "A brand new one 77"},
                           headers=account.headers)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "session_required"
    assert client.post(PASSWORD_URL, json={"new_password": "A brand new one 77"}).status_code == 401


def age(client, field: str, seconds: int) -> None:
    """Move one of the session's timestamps into the past (as the server signed it)."""
    with client.session_transaction() as session:
        session[field] -= seconds


@pytest.mark.parametrize("field, seconds, alive", [
    (SEEN, 3599, True),
    (SEEN, 3601, False),
    (STARTED, 86399, True),
    (STARTED, 86401, False),
])
def test_idle_and_absolute_lifetimes(make_app, make_account, field, seconds, alive):
    app = make_app(session_idle_seconds=3600, session_max_seconds=86400)
    account = make_account()
    client = signed_in(app, account.user.email)
    age(client, field, seconds)
    assert client.get("/api/auth/me").status_code == (200 if alive else 401)


def test_use_keeps_an_idle_session_alive(make_app, make_account):
    app = make_app(session_idle_seconds=3600)
    client = signed_in(app, make_account().user.email)
    age(client, SEEN, 3000)
    assert client.get("/api/auth/me").status_code == 200  # noted as used now
    age(client, SEEN, 3000)
    assert client.get("/api/auth/me").status_code == 200


def test_a_cookie_without_the_servers_stamps_is_refused(app, make_account):
    account = make_account()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = account.user.id
        session["_fresh"] = True
    assert client.get("/api/auth/me").status_code == 401
