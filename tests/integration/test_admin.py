"""The admin API: bearer token, bucket policy, styles and secrets, with effects checked
through real delivery requests."""
import json
import pathlib

import pytest
import requests

from conftest import CORPUS, ROOT, Imgd

TOKEN = "admin-token-for-tests-0001"
SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()


@pytest.fixture(scope="module")
def admin(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("admin") / "data", env={"IMGD_ADMIN_TOKEN": TOKEN}).start()
    server.client().create_bucket(Bucket="adm")
    server.client().put_object(Bucket="adm", Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
    yield server
    server.stop()


def call(server, method, path, body=None, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{server.endpoint}/_imgd/admin/{path}", headers=headers,
                            data=None if body is None else json.dumps(body), timeout=10)


def test_token_is_required(admin):
    assert call(admin, "GET", "buckets", token=None).status_code == 401
    r = call(admin, "GET", "buckets", token="wrong-token-wrong-token")
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    assert call(admin, "GET", "buckets").status_code == 200
    assert call(admin, "GET", "nothing-here").status_code == 404


def test_policy_styles_and_secrets_take_effect(admin):
    url = f"{admin.endpoint}/adm/saw.jpg"
    assert requests.get(url, timeout=10).status_code == 403
    r = call(admin, "PUT", "buckets/adm/policy", {"delivery": "public", "cache_ttl_secs": 120})
    assert r.status_code == 200 and r.json()["delivery"] == "public"
    got = requests.get(url, timeout=10)
    assert got.status_code == 200 and got.headers["Cache-Control"] == "public, max-age=120"

    bad = call(admin, "PUT", "buckets/adm/policy", {"delivery": "sometimes"})
    assert bad.status_code == 400 and "sometimes" in bad.json()["message"]
    assert call(admin, "PUT", "buckets/nosuch/policy", {"delivery": "public"}).status_code == 404
    assert call(admin, "PUT", "buckets/adm/policy", {"nonsense": 1}).status_code == 400

    assert call(admin, "PUT", "buckets/adm/styles/small", {"process": "image/resize,w_0"}).status_code == 400
    assert call(admin, "PUT", "buckets/adm/styles/small", {"process": "image/resize,w_33"}).status_code == 200
    assert [s["name"] for s in call(admin, "GET", "buckets/adm/styles").json()["styles"]] == ["small"]
    r = requests.get(url, params={"x-oss-process": "style/small"}, timeout=30)
    assert r.status_code == 200

    call(admin, "PUT", "buckets/adm/policy", {"delivery": "signed", "schemes": ["cloudflare"]})
    assert requests.get(url, timeout=10).status_code == 403
    created = call(admin, "POST", "secrets", {"bucket": "adm", "description": "site"})
    assert created.status_code == 201
    secret = created.json()
    signed = admin.cli("sign", "--scheme", "cloudflare", "--secret", secret["secret"], url).stdout.strip()
    assert requests.get(signed, timeout=10).status_code == 200
    listed = call(admin, "GET", "secrets").json()["secrets"]
    assert any(s["id"] == secret["id"] and "secret" not in s for s in listed)
    assert call(admin, "POST", f"secrets/{secret['id']}/revoke").status_code == 200
    r = requests.get(signed, timeout=10)
    assert r.status_code == 403 and "SecretRevoked" in r.text
    assert call(admin, "DELETE", "buckets/adm/styles/small").status_code == 200


def test_admin_api_is_off_without_a_token(imgd):
    r = requests.get(f"{imgd.endpoint}/_imgd/admin/buckets", headers={"Authorization": "Bearer x"}, timeout=10)
    assert r.status_code == 404


def test_openapi_document_lists_every_route():
    text = (ROOT / "docs" / "openapi.yaml").read_text()
    for path in ("/buckets:", "/buckets/{bucket}/policy:", "/buckets/{bucket}/styles:",
                 "/buckets/{bucket}/styles/{name}:", "/secrets:", "/secrets/{id}/revoke:",
                 "/buckets/{bucket}/origin:", "/variants:", "/variants/purge:"):
        assert path in text
