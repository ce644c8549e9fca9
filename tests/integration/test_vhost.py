"""Virtual-hosted-style requests (`bucket.<domain>`, with `IMGD_DOMAIN` set) on every door:
delivery (anonymous GET/HEAD, `x-oss-process`, `key!style`, Cloudflare-signed links,
referers), S3 (SigV4 header-signed and presigned, listings), OSS, ixmage and internal
routes, with path style still working beside them.

`*.example.test` does not resolve, so every request goes to 127.0.0.1 with the virtual
host in its `Host` header (or, for oss2, through imgd as an HTTP proxy, which sends the
absolute URL), exactly what a client that resolved the name would send."""
import io
import re
import urllib.parse

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import oss2
import pytest
import requests
from botocore.config import Config
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd

DOMAIN = "example.test"
TOKEN = "VhostToken1"
SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()
TEXT = b"served from the photos bucket\n"
DECOY = b"served from the decoy bucket: wrong\n"
CF_SECRET = "vhost-cloudflare-secret-0001"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Imgd(
        tmp_path_factory.mktemp("vhost") / "data",
        env={"IMGD_DOMAIN": DOMAIN, "IMGD_ACCOUNT_TOKEN": TOKEN},
    ).start()
    try:
        s3 = server.client()
        for b in ("photos", "locked", "cfs", "refs", "decoy"):
            server.cli("bucket", "create", b, *(["--public"] if b in ("photos", "refs", "decoy") else []))
        for b in ("photos", "locked", "cfs", "refs"):
            s3.put_object(Bucket=b, Key="dir/a.txt", Body=TEXT, ContentType="text/plain")
            s3.put_object(Bucket=b, Key="dir/saw.jpg", Body=SAW, ContentType="image/jpeg")
        s3.put_object(Bucket="photos", Key="dir/a b.txt", Body=b"spaced")
        s3.put_object(Bucket="photos", Key="top.txt", Body=b"top level")
        s3.put_object(Bucket="locked", Key="top.txt", Body=b"locked top level")
        # Path style reads `/dir/...` as bucket `dir`: a public bucket of that kind of name
        # would be served instead of the virtual host's, so one exists to catch it.
        s3.put_object(Bucket="decoy", Key="a.txt", Body=DECOY)
        server.cli("bucket", "policy", "cfs", "--delivery", "signed", "--schemes", "cloudflare")
        server.cli("secret", "create", "--bucket", "cfs", "--value", CF_SECRET)
        server.cli("bucket", "policy", "refs", "--referer", "good.test")
        server.cli("style", "put", "photos", "thumb", "image/resize,w_40/format,png")
        server.cli("bucket", "style-delimiters", "photos", "!")
        yield server
    finally:
        server.stop()


def host_of(bucket, port=None):
    return f"{bucket}.{DOMAIN}" + (f":{port}" if port else "")


def vget(srv, bucket, path_and_query, method="GET", port=True, headers=None, host=None):
    """A request for `http://{bucket}.example.test:{port}{path_and_query}`, sent to loopback."""
    h = {"Host": host or host_of(bucket, srv.port if port else None)}
    h.update(headers or {})
    return requests.request(method, f"{srv.endpoint}{path_and_query}", headers=h, timeout=30)


def code_of(r):
    m = re.search(r"<Code>([^<]+)</Code>", r.text)
    return m.group(1) if m else None


def size_of(body):
    return Image.open(io.BytesIO(body)).size


def test_anonymous_get_of_a_nested_key_uses_the_host_bucket(srv):
    for port in (True, False):
        r = vget(srv, "photos", "/dir/a.txt", port=port)
        assert r.status_code == 200, (port, r.status_code, r.text)
        assert r.content == TEXT
        assert r.headers["Content-Type"] == "text/plain"
    # DNS names are case-insensitive; percent-encoding decodes as in path style.
    r = vget(srv, "photos", "/dir/a.txt", host=f"PHOTOS.Example.TEST:{srv.port}")
    assert r.status_code == 200 and r.content == TEXT
    r = vget(srv, "photos", "/dir/a%20b.txt")
    assert r.status_code == 200 and r.content == b"spaced"
    # A one-segment key is the whole path too.
    r = vget(srv, "photos", "/top.txt")
    assert r.status_code == 200 and r.content == b"top level"


def test_anonymous_head_via_virtual_host(srv):
    r = vget(srv, "photos", "/dir/saw.jpg", method="HEAD")
    assert r.status_code == 200, r.headers
    assert int(r.headers["Content-Length"]) == len(SAW)
    assert r.headers["Content-Type"] == "image/jpeg"
    assert r.content == b""
    missing = vget(srv, "photos", "/dir/nope.jpg", method="HEAD")
    assert missing.status_code == 404


def test_processing_and_styles_via_virtual_host(srv):
    r = vget(srv, "photos", "/dir/saw.jpg?x-oss-process=image/resize,w_100")
    assert r.status_code == 200, r.text
    assert size_of(r.content)[0] == 100
    styled = vget(srv, "photos", "/dir/saw.jpg!thumb")
    assert styled.status_code == 200, styled.text
    assert styled.headers["Content-Type"] == "image/png"
    assert size_of(styled.content)[0] == 40


def test_cloudflare_link_signed_for_the_virtual_host_url(srv):
    ops = "x-oss-process=image/resize,w_64"
    url = srv.cli(
        "sign", "--scheme", "cloudflare", "--secret", CF_SECRET, "--expires-in", "600",
        f"http://{host_of('cfs', srv.port)}/dir/saw.jpg?{ops}",
    ).stdout.strip()
    parts = urllib.parse.urlsplit(url)
    assert parts.netloc == host_of("cfs", srv.port) and parts.path == "/dir/saw.jpg"
    r = vget(srv, "cfs", f"{parts.path}?{parts.query}")
    assert r.status_code == 200, r.text
    assert size_of(r.content)[0] == 64
    assert "max-age=" in r.headers["Cache-Control"]

    tampered = parts.query.replace("w_64", "w_65")
    bad = vget(srv, "cfs", f"{parts.path}?{tampered}")
    assert bad.status_code == 403 and code_of(bad) == "SignatureDoesNotMatch"
    sig = re.search(r"sig=([0-9a-f]+)", parts.query).group(1)
    flipped = parts.query.replace(sig, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    bad = vget(srv, "cfs", f"{parts.path}?{flipped}")
    assert bad.status_code == 403 and code_of(bad) == "SignatureDoesNotMatch"
    # Unsigned, the signed bucket refuses as such (not NoSuchBucket).
    unsigned = vget(srv, "cfs", "/dir/saw.jpg")
    assert unsigned.status_code == 403 and code_of(unsigned) == "AccessDenied"


def test_cloudflare_link_binds_the_path_it_was_signed_for(srv):
    """A link signed for the path-style URL does not open the virtual-host URL, and the
    other way round: the signature covers the path the client sees."""
    path_style = srv.cli(
        "sign", "--scheme", "cloudflare", "--secret", CF_SECRET, f"{srv.endpoint}/cfs/dir/a.txt",
    ).stdout.strip()
    p = urllib.parse.urlsplit(path_style)
    assert requests.get(path_style, timeout=10).content == TEXT
    swapped = vget(srv, "cfs", f"/dir/a.txt?{p.query}")
    assert swapped.status_code == 403 and code_of(swapped) == "SignatureDoesNotMatch"
    vhost = srv.cli(
        "sign", "--scheme", "cloudflare", "--secret", CF_SECRET, f"http://{host_of('cfs')}/dir/a.txt",
    ).stdout.strip()
    v = urllib.parse.urlsplit(vhost)
    assert vget(srv, "cfs", f"{v.path}?{v.query}", port=False).content == TEXT
    wrong = requests.get(f"{srv.endpoint}/cfs/dir/a.txt?{v.query}", timeout=10)
    assert wrong.status_code == 403 and code_of(wrong) == "SignatureDoesNotMatch"


def test_private_bucket_via_virtual_host_is_denied_not_missing(srv):
    r = vget(srv, "locked", "/dir/a.txt")
    assert r.status_code == 403 and code_of(r) == "AccessDenied", r.text
    assert TEXT not in r.content


def test_unknown_bucket_via_virtual_host(srv):
    # `/decoy/a.txt` would be the public decoy bucket's object in path style.
    r = vget(srv, "nosuch", "/decoy/a.txt")
    assert r.status_code == 404 and code_of(r) == "NoSuchBucket", r.text
    assert DECOY not in r.content
    # The same path, path style, is the decoy's.
    assert requests.get(f"{srv.endpoint}/decoy/a.txt", timeout=10).content == DECOY


def test_referer_allow_list_via_virtual_host(srv):
    ok = vget(srv, "refs", "/dir/a.txt", headers={"Referer": "https://good.test/page"})
    assert ok.status_code == 200 and ok.content == TEXT
    bad = vget(srv, "refs", "/dir/a.txt", headers={"Referer": "https://evil.test/page"})
    assert bad.status_code == 403 and code_of(bad) == "RefererDenied"


def test_path_style_still_works_beside_the_domain(srv):
    # Loopback, the bare domain and any other name are path style.
    for host in (f"127.0.0.1:{srv.port}", f"{DOMAIN}:{srv.port}", DOMAIN, f"localhost:{srv.port}",
                 f"evil{DOMAIN}:{srv.port}"):
        r = requests.get(f"{srv.endpoint}/photos/dir/a.txt", headers={"Host": host}, timeout=10)
        assert r.status_code == 200 and r.content == TEXT, (host, r.text)
    # The S3 door too: a signed path-style request whose Host is a name outside the
    # domain is path style, not a CNAME naming the bucket `localhost`.
    for host in (f"localhost:{srv.port}", f"{DOMAIN}:{srv.port}"):
        h = sigv4_headers("GET", f"http://{host}/locked/dir/a.txt")
        r = requests.get(f"{srv.endpoint}/locked/dir/a.txt", headers={**h, "Host": host}, timeout=10)
        assert r.status_code == 200 and r.content == TEXT, (host, r.text)
    assert srv.client().get_object(Bucket="locked", Key="dir/a.txt")["Body"].read() == TEXT


def sigv4_headers(method, url, body=b""):
    """SigV4 headers for `url` as botocore signs them (the host is the URL's)."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def test_s3_header_signed_requests_via_virtual_host(srv):
    base = f"http://{host_of('locked', srv.port)}"
    h = sigv4_headers("GET", f"{base}/dir/a.txt")
    r = vget(srv, "locked", "/dir/a.txt", headers=h)
    assert r.status_code == 200 and r.content == TEXT, r.text
    # A one-segment key: the path is all key on a virtual host.
    h = sigv4_headers("PUT", f"{base}/vput.txt", b"put via vhost")
    r = requests.put(f"{srv.endpoint}/vput.txt", data=b"put via vhost",
                     headers={**h, "Host": host_of("locked", srv.port)}, timeout=30)
    assert r.status_code == 200, r.text
    got = srv.client().get_object(Bucket="locked", Key="vput.txt")["Body"].read()
    assert got == b"put via vhost"
    # The bucket root is ListObjects.
    h = sigv4_headers("GET", f"{base}/?list-type=2&prefix=dir%2F")
    r = vget(srv, "locked", "/?list-type=2&prefix=dir%2F", headers=h)
    assert r.status_code == 200, r.text
    assert re.findall(r"<Key>([^<]+)</Key>", r.text) == ["dir/a.txt", "dir/saw.jpg"]


def test_s3_sigv2_header_signed_one_segment_key_via_virtual_host(srv):
    """SigV2 signs `/bucket/key`; on a virtual host `/top.txt` is that key, not a bucket
    whose resource needs the trailing slash path style gives it."""
    req = botocore.awsrequest.AWSRequest(method="GET", url=f"http://{host_of('locked', srv.port)}/top.txt")
    req.auth_path = "/locked/top.txt"
    botocore.auth.HmacV1Auth(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)).add_auth(req)
    r = vget(srv, "locked", "/top.txt", headers=dict(req.headers.items()))
    assert r.status_code == 200 and r.content == b"locked top level", r.text


def test_s3_presigned_urls_via_virtual_host(srv):
    s3 = boto3.client(
        "s3", endpoint_url=f"http://{DOMAIN}:{srv.port}", aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        config=Config(s3={"addressing_style": "virtual"}, signature_version="s3v4"),
    )
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "locked", "Key": "dir/a.txt"}, ExpiresIn=300)
    parts = urllib.parse.urlsplit(url)
    assert parts.netloc == host_of("locked", srv.port) and parts.path == "/dir/a.txt"
    r = vget(srv, "locked", f"{parts.path}?{parts.query}")
    assert r.status_code == 200 and r.content == TEXT, r.text
    # Signed for another bucket's host, the same path and query fail the signature.
    other = vget(srv, "photos", f"{parts.path}?{parts.query}")
    assert other.status_code == 403 and code_of(other) == "SignatureDoesNotMatch", other.text


def test_anonymous_bucket_root_is_a_listing_for_the_s3_door(srv):
    # The bucket root of a public bucket is S3's anonymous listing (as S3 serves
    # public-read buckets), not the delivery door's "expected a key"; a private bucket's
    # root stays AccessDenied.
    r = vget(srv, "photos", "/")
    assert r.status_code == 200 and "<ListBucketResult" in r.text, r.text
    assert "<Key>dir/a.txt</Key>" in r.text
    r = vget(srv, "locked", "/")
    assert r.status_code == 403 and code_of(r) == "AccessDenied", r.text
    assert "dir/a.txt" not in r.text


def test_oss_door_via_virtual_host(srv):
    """oss2's default addressing (`bucket.<domain>`), through imgd as an HTTP proxy."""
    proxies = {"http": srv.endpoint}
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), f"http://{DOMAIN}:{srv.port}", "locked", proxies=proxies)
    assert b.get_object("dir/a.txt").read() == TEXT
    url = b.sign_url("GET", "dir/a.txt", 60)
    assert urllib.parse.urlsplit(url).netloc == host_of("locked", srv.port)
    r = requests.get(url, proxies=proxies, timeout=10)
    assert r.status_code == 200 and r.content == TEXT


def test_internal_routes_and_ixmage_answer_on_any_host(srv):
    health = vget(srv, "photos", "/_imgd/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    # ixmage links carry the bucket (alias) in the path; the host's bucket is ignored.
    r = vget(srv, "locked", f"/_ix/{TOKEN}/photos/dir/saw.jpg?width=50")
    assert r.status_code == 200, r.text
    assert size_of(r.content)[0] == 50
