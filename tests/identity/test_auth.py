"""Accounts through HTTP: signup, login, logout, me."""
import pytest

from tests.conftest import PASSWORD

SIGNUP = "/api/auth/signup"
LOGIN = "/api/auth/login"


def test_signup_creates_a_normalised_account_and_signs_in(client):
    response = client.post(SIGNUP, json={"email": "  Ada.Lovelace@EXAMPLE.com ", "password": PASSWORD})
    assert response.status_code == 201
    user = response.json["user"]
    assert user["email"] == "ada.lovelace@example.com"
    assert user["tier"] == "free"
    assert user["id"].startswith("usr_")
    assert "password" not in user
    me = client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json["id"] == user["id"]


def test_session_cookie_is_httponly_and_lax(client):
    response = client.post(SIGNUP, json={"email": "c@example.com", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_secure_cookie_when_configured(make_app):
    client = make_app(session_cookie_secure=True).test_client()
    response = client.post(SIGNUP, json={"email": "s@example.com", "password": PASSWORD})
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("body, field, code", [
    ({"email": "not-an-email", "password": PASSWORD}, "email", "invalid_email"),
    ({"email": "a@", "password": PASSWORD}, "email", "invalid_email"),
    ({"email": "a@example.com", "password": "short1A"}, "password", "weak_password"),
    ({"email": "a@example.com", "password": "alllowercaseletters"}, "password", "weak_password"),
    ({"email": "a@example.com", "password": "aaaaaaaaaaaa1"}, "password", "weak_password"),
    ({"email": "alexander@example.com", "password": "Alexander2024"}, "password", "weak_password"),
    ({"email": "a@example.com", "password": "x" * 300 + "A1"}, "password", "weak_password"),
    ({"email": "a@example.com", "password": "password12"}, "password", "weak_password"),
    ({"email": "a@example.com", "password": "qwertyuiop1"}, "password", "weak_password"),
    ({"email": "a@example.com", "password": "Password1!"}, "password", "weak_password"),
    ({"email": "a@example.com", "password": "!Sunshine2024"}, "password", "weak_password"),
    ({"email": "a@example.com", "password": "Iloveyou123"}, "password", "weak_password"),
    ({"password": PASSWORD}, "email", "invalid_request"),
    ({"email": "a@example.com"}, "password", "invalid_request"),
    ({"email": 42, "password": PASSWORD}, "email", "invalid_request"),
])
def test_signup_rejects_bad_input_naming_the_field(client, body, field, code):
    response = client.post(SIGNUP, json=body)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == code
    assert error["param"] == field
    assert field in error["message"]
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("password", ["Correct horse 9 battery", "Sunshine-on-Tuesday-48",
                                      "kX9!mQ2#vL7p"])
def test_uncommon_passwords_are_accepted(client, password):
    response = client.post(SIGNUP, json={"email": "fine@example.com", "password": password})
    assert response.status_code == 201, response.json


def test_a_common_password_cannot_be_set_by_a_change_either(client):
    client.post(SIGNUP, json={"email": "c@example.com", "password": PASSWORD})
    response = client.post("/api/auth/password", json={"current_password": PASSWORD,
                                                       "new_password": "Password123!"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "weak_password"
    assert "common" in response.json["error"]["message"]


def test_signup_refuses_a_taken_email_whatever_its_case(client):
    assert client.post(SIGNUP, json={"email": "dup@example.com", "password": PASSWORD}).status_code == 201
    response = client.post(SIGNUP, json={"email": "DUP@example.com", "password": PASSWORD})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "email_taken"


def test_a_full_width_spelling_is_the_same_account(client):
    assert client.post(SIGNUP, json={"email": "victim@example.com",
                                     "password": PASSWORD}).status_code == 201
    again = client.post(SIGNUP, json={"email": "ｖictim@example.com", "password": PASSWORD})
    assert again.status_code == 409
    assert again.json["error"]["code"] == "email_taken"
    login = client.post(LOGIN, json={"email": "ＶＩＣＴＩＭ@example.com", "password": PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize("email", ["victim@exаmple.com", "victim@xn--exmple-4nf.com",
                                   "vіctim@example.com"])
def test_signup_refuses_look_alike_addresses(client, email):
    response = client.post(SIGNUP, json={"email": email, "password": PASSWORD})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_email"


def test_login_and_logout(client, make_account):
    account = make_account(email="login@example.com")
    response = client.post(LOGIN, json={"email": "Login@Example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json["user"]["id"] == account.user.id
    assert client.get("/api/auth/me").status_code == 200
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_wrong_password_and_unknown_email_get_the_same_answer(client, make_account):
    make_account(email="known@example.com")
    wrong_password = client.post(LOGIN, json={"email": "known@example.com", "password": "Wrong pass 99"})
    unknown_email = client.post(LOGIN, json={"email": "nobody@example.com", "password": "Wrong pass 99"})
    malformed_email = client.post(LOGIN, json={"email": "nobody", "password": "Wrong pass 99"})
    for response in (wrong_password, unknown_email, malformed_email):
        assert response.status_code == 401
        assert response.json == wrong_password.json
    assert wrong_password.json["error"]["code"] == "invalid_credentials"


def test_me_with_an_api_key_in_either_header_spelling(client, make_account):
    account = make_account(tier="pro")
    for header in ("Authorization", "Authorisation"):
        response = client.get("/api/auth/me", headers={header: f"Bearer {account.key}"})
        assert response.status_code == 200
        assert response.json["tier"] == "pro"


def test_me_without_credentials(client):
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "not_authenticated"


def test_login_form_posts_are_refused(client, make_account):
    make_account(email="form@example.com")
    response = client.post(LOGIN, data={"email": "form@example.com", "password": PASSWORD})
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"
