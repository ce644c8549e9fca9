"""Every link-expiry check follows the server's clock (`clock_start`), not the machine's.

One imgd runs with its clock two days ahead of the real one. For each signing scheme a link
that the real clock would still accept (it ends a day from now) must be refused as expired,
and a link that ends three days from now (a day after the moved "now") must be served.
Responses to signed links must not be cacheable past the link's end as the moved clock
sees it. Links are made by the tools sites use: `imgd sign`, oss2's `sign_url` and boto3's
`generate_presigned_url`, all of which sign with the real clock.
"""
import email.utils
import io
import re
import time
from dataclasses import dataclass

import oss2
import pytest
import requests
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd, s3_client

DAY = 86400
AHEAD = 2 * DAY
TTL = 3600  # the signed buckets' cache TTL: longer than the short links below, so the link is the cap
TOKEN = "ClockTestToken"
CF, IX, PRIV = "clock-cf", "clock-ix", "clock-priv"  # signed Cloudflare, signed ixmage, private
SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()


@dataclass
class Moved:
    server: Imgd
    start: int  # IMGD_CLOCK_START
    picked: float  # real time when `start` was chosen, before the server was launched
    healthy: float  # real time when the server first answered its health check
    cf_secret: str
    ix_secret: str

    # The server reads its clock offset once, at some instant between `picked` and
    # `healthy`, in whole seconds. These bounds hold whenever that happened, so timing
    # assertions need no guessed slack.
    def lo(self) -> int:
        """A value the server's clock has already passed."""
        return self.start + int(time.time() - self.healthy) - 1

    def hi(self) -> int:
        """A value the server's clock has not yet passed."""
        return self.start + int(time.time() - self.picked) + 2

    @property
    def endpoint(self) -> str:
        return self.server.endpoint


def new_secret(server: Imgd, bucket: str) -> str:
    out = server.cli("secret", "create", "--bucket", bucket).stdout
    return re.search(r"secret = (\S+)", out).group(1)


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    data = tmp_path_factory.mktemp("clock") / "data"
    # Buckets, objects and secrets are set up by a server on the real clock. Uploads sign
    # their headers with the real time, and a server two days ahead may rightly call them
    # skewed; what is under test is only how links are judged.
    seed = Imgd(data, env={"IMGD_ACCOUNT_TOKEN": TOKEN}).start()
    try:
        s3 = seed.client()
        for b in (CF, IX, PRIV):
            s3.create_bucket(Bucket=b)
            s3.put_object(Bucket=b, Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
        seed.cli("bucket", "policy", CF, "--delivery", "signed", "--schemes", "cloudflare", "--ttl", str(TTL))
        seed.cli("bucket", "policy", IX, "--delivery", "signed", "--schemes", "ixmage", "--ttl", str(TTL))
        cf_secret = new_secret(seed, CF)
        ix_secret = new_secret(seed, IX)
    finally:
        seed.stop()

    picked = time.time()
    start = int(picked) + AHEAD
    server = Imgd(data, env={"IMGD_ACCOUNT_TOKEN": TOKEN, "IMGD_CLOCK_START": str(start)}).start()
    healthy = time.time()
    yield Moved(server, start, picked, healthy, cf_secret, ix_secret)
    server.stop()


def real_now() -> int:
    return int(time.time())


def sign(moved: Moved, *args: str) -> str:
    # Callers always pass `--at`: each link must be signed at a known instant (usually the
    # real now), whatever `imgd sign` would take as "now" by itself.
    return moved.server.cli("sign", *args).stdout.strip()


def error(r: requests.Response) -> tuple[str | None, str]:
    code = re.search(r"<Code>([^<]*)</Code>", r.text)
    message = re.search(r"<Message>([^<]*)</Message>", r.text)
    return (code.group(1) if code else None, message.group(1) if message else "")


def max_age(r: requests.Response) -> int:
    m = re.search(r"max-age=(\d+)", r.headers.get("Cache-Control", ""))
    assert m, r.headers.get("Cache-Control")
    return int(m.group(1))


def assert_cached_until_link_end(r: requests.Response, link_end: int, lo: int, hi: int):
    """`lo`/`hi`: bounds on the server's clock taken before and after the request. The
    response may be cached for at most what is left of the link by that clock, and its
    `Expires` is the link's end."""
    assert r.status_code == 200, r.text
    age = max_age(r)
    # A server on the real clock would allow about AHEAD seconds more than this.
    assert link_end - hi <= age <= link_end - lo, (r.headers.get("Cache-Control"), link_end - lo)
    assert r.headers.get("Expires") == email.utils.formatdate(link_end, usegmt=True), r.headers.get("Expires")


# -- Cloudflare-style exp/sig links on the delivery door ---------------------------------


def cloudflare(moved: Moved, at: int, expires_in: int) -> str:
    return sign(moved, "--scheme", "cloudflare", "--secret", moved.cf_secret, "--at", str(at),
                "--expires-in", str(expires_in), f"{moved.endpoint}/{CF}/saw.jpg")


def test_cloudflare_link_live_by_the_real_clock_is_expired_by_the_moved_clock(moved):
    url = cloudflare(moved, real_now(), DAY)
    r = requests.get(url, timeout=10)
    assert r.status_code == 403, (url, r.status_code)
    assert error(r)[0] == "SignatureExpired", r.text


def test_cloudflare_link_live_by_the_moved_clock_is_served(moved):
    r = requests.get(cloudflare(moved, real_now(), 3 * DAY), timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == SAW


def test_cloudflare_caching_stops_at_the_link_end_by_the_moved_clock(moved):
    # Signed "now" as the server sees it, for ten minutes.
    at = moved.lo()
    url = cloudflare(moved, at, 600)
    link_end = int(re.search(r"exp=(\d+)", url).group(1))
    assert link_end == at + 600
    lo = moved.lo()
    r = requests.get(url, timeout=10)
    assert_cached_until_link_end(r, link_end, lo, moved.hi())
    assert max_age(r) <= 600


# -- ixmage key links ---------------------------------------------------------------------


def test_ixmage_key_links_carry_no_expiry_so_the_moved_clock_changes_nothing(moved):
    """An ixmage `key` is a SHA-1 of token, sorted query and secret (compat.md §3): there is
    no expiry in the link to judge. Two days on, the link is still served and cached for the
    bucket's TTL; an `Expires`, if sent, counts from the moved clock."""
    url = sign(moved, "--scheme", "ixmage", "--secret", moved.ix_secret, "--at", str(real_now()),
               f"{moved.endpoint}/_ix/{TOKEN}/{IX}/saw.jpg?width=60")
    lo = moved.lo()
    r = requests.get(url, timeout=30)
    hi = moved.hi()
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size[0] == 60
    assert max_age(r) == TTL, r.headers.get("Cache-Control")
    if "Expires" in r.headers:
        expires = int(email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp())
        assert lo + TTL <= expires <= hi + TTL, r.headers["Expires"]


# -- OSS V1 signed URLs (oss2) ------------------------------------------------------------


@pytest.fixture(scope="module")
def oss_bucket(moved):
    # PRIV is private: a signed URL is an authenticated request by the key holder.
    return oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), moved.endpoint, PRIV)


def test_oss_signed_url_live_by_the_real_clock_is_expired_by_the_moved_clock(oss_bucket):
    # oss2 sets Expires = real now + the given seconds.
    url = oss_bucket.sign_url("GET", "saw.jpg", DAY)
    r = requests.get(url, timeout=10)
    assert r.status_code == 403, (url, r.status_code)
    code, message = error(r)
    assert code == "AccessDenied" and "Request has expired" in message, r.text


def test_oss_signed_url_live_by_the_moved_clock_is_served(oss_bucket):
    r = requests.get(oss_bucket.sign_url("GET", "saw.jpg", 3 * DAY), timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == SAW


def test_oss_caching_stops_at_the_link_end_by_the_moved_clock(moved, oss_bucket):
    # oss2 counts from the real clock, so ask for what takes the link to ten minutes past
    # the moved "now".
    url = oss_bucket.sign_url("GET", "saw.jpg", moved.lo() + 600 - real_now())
    link_end = int(re.search(r"Expires=(\d+)", url).group(1))
    lo = moved.lo()
    r = requests.get(url, timeout=10)
    assert_cached_until_link_end(r, link_end, lo, moved.hi())
    assert max_age(r) <= 601  # oss2 may have read the real clock a second later than we did


# -- S3 presigned URLs (boto3): SigV4 X-Amz-Date + X-Amz-Expires, SigV2 Expires ----------

VERSIONS = ["s3v4", "s3"]  # botocore's names for SigV4 and SigV2


def presigned(moved: Moved, version: str, expires_in: int) -> str:
    c = s3_client(moved.endpoint, signature_version=version)
    url = c.generate_presigned_url("get_object", Params={"Bucket": PRIV, "Key": "saw.jpg"}, ExpiresIn=expires_in)
    assert ("X-Amz-Signature" in url) == (version == "s3v4"), url
    return url


@pytest.mark.parametrize("version", VERSIONS)
def test_s3_presigned_url_live_by_the_real_clock_is_expired_by_the_moved_clock(moved, version):
    url = presigned(moved, version, DAY)
    r = requests.get(url, timeout=10)
    assert r.status_code == 403, (url, r.status_code)
    code, message = error(r)
    assert code == "AccessDenied" and "Request has expired" in message, r.text


@pytest.mark.parametrize("version", VERSIONS)
def test_s3_presigned_url_live_by_the_moved_clock_is_served(moved, version):
    # Three days is within SigV4's 7-day X-Amz-Expires limit, and SigV2's Expires (real
    # now + 3 days) is within 7 days of either clock.
    r = requests.get(presigned(moved, version, 3 * DAY), timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == SAW


def test_s3_sigv2_seven_day_cap_counts_from_the_moved_clock(moved):
    """SigV2's Expires is absolute, so "at most a week ahead" depends on the clock: eight
    days from the real now is six from the moved one and allowed; ten days is nine and not."""
    ok = requests.get(presigned(moved, "s3", 8 * DAY), timeout=10)
    assert ok.status_code == 200, ok.text
    too_far = requests.get(presigned(moved, "s3", 10 * DAY), timeout=10)
    assert too_far.status_code == 400, too_far.text
    assert error(too_far)[0] == "AuthorizationQueryParametersError", too_far.text
