"""Processing features that live in the server: styles (CLI, config, key!style URLs),
HEAD of a variant, saveas via POST, admission control (503) and the time budget."""
import base64
import concurrent.futures
import io
import json

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd

SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()


def b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode()


def width_of(content: bytes) -> int:
    return Image.open(io.BytesIO(content)).size[0]


@pytest.fixture(scope="module")
def styled(imgd):
    s3 = imgd.client()
    s3.create_bucket(Bucket="styled", ACL="public-read")
    s3.put_object(Bucket="styled", Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
    s3.put_object(Bucket="styled", Key="real!thumb", Body=b"an object whose key has the delimiter")
    return s3


def test_styles_from_the_cli_by_parameter_and_by_delimiter(imgd, styled):
    out = imgd.cli("style", "put", "styled", "thumb", "image/resize,w_40/format,png")
    assert "thumb" in out.stdout
    assert "thumb\timage/resize,w_40/format,png" in imgd.cli("style", "list", "styled").stdout
    bad = imgd.cli("style", "put", "styled", "broken", "image/resize,w_0", check=False)
    assert bad.returncode != 0
    assert "resize: parameter w must be between 1 and 16384, got 0" in bad.stderr, bad.stderr
    assert "broken" in bad.stderr
    assert "broken" not in imgd.cli("style", "list", "styled").stdout

    r = requests.get(f"{imgd.endpoint}/styled/saw.jpg", params={"x-oss-process": "style/thumb"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert width_of(r.content) == 40

    # Delimiters are off until the bucket enables them.
    assert requests.get(f"{imgd.endpoint}/styled/saw.jpg!thumb", timeout=10).status_code == 404
    imgd.cli("bucket", "style-delimiters", "styled", "!", "@!")
    for url in ("saw.jpg!thumb", "saw.jpg@!thumb"):
        r = requests.get(f"{imgd.endpoint}/styled/{url}", timeout=30)
        assert r.status_code == 200, (url, r.text)
        assert width_of(r.content) == 40
    # An existing key wins over the style reading; an unknown style is a plain miss.
    assert requests.get(f"{imgd.endpoint}/styled/real!thumb", timeout=10).content.startswith(b"an object")
    assert requests.get(f"{imgd.endpoint}/styled/saw.jpg!nosuch", timeout=10).status_code == 404

    undefined = requests.get(f"{imgd.endpoint}/styled/saw.jpg", params={"x-oss-process": "style/nosuch"}, timeout=10)
    assert undefined.status_code == 400 and "nosuch" in undefined.text

    imgd.cli("style", "delete", "styled", "thumb")
    gone = requests.get(f"{imgd.endpoint}/styled/saw.jpg", params={"x-oss-process": "style/thumb"}, timeout=10)
    assert gone.status_code == 400


def test_head_describes_the_variant(imgd, styled):
    ops = {"x-oss-process": "image/resize,w_64/format,webp"}
    got = requests.get(f"{imgd.endpoint}/styled/saw.jpg", params=ops, timeout=30)
    head = requests.head(f"{imgd.endpoint}/styled/saw.jpg", params=ops, timeout=30)
    assert head.status_code == 200
    assert head.headers["Content-Type"] == "image/webp"
    assert int(head.headers["Content-Length"]) == len(got.content)
    assert head.headers["ETag"] == got.headers["ETag"]


def signed_post(imgd, path: str, body: str, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    url = f"{imgd.endpoint}/{path}?x-oss-process"
    req = AWSRequest(method="POST", url=url, data=body.encode())
    SigV4Auth(Credentials(access_key, secret_key), "s3", "us-east-1").add_auth(req)
    return requests.post(url, data=body.encode(), headers=dict(req.headers), timeout=60)


def test_saveas_stores_the_result_and_answers_oss_json(imgd, styled):
    s3 = imgd.client()
    s3.create_bucket(Bucket="saved")
    body = f"x-oss-process=image/resize,w_70/format,png|sys/saveas,o_{b64('thumbs/saw.png')},b_{b64('saved')}"
    r = signed_post(imgd, "styled/saw.jpg", body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["bucket"] == "saved" and doc["object"] == "thumbs/saw.png" and doc["status"] == "OK"
    stored = s3.get_object(Bucket="saved", Key="thumbs/saw.png")
    data = stored["Body"].read()
    assert stored["ContentType"] == "image/png" and len(data) == doc["fileSize"]
    assert width_of(data) == 70

    # Without b_ the result goes to the source's bucket.
    r = signed_post(imgd, "styled/saw.jpg", f"x-oss-process=image/resize,w_30|sys/saveas,o_{b64('small.jpg')}")
    assert r.status_code == 200, r.text
    assert width_of(s3.get_object(Bucket="styled", Key="small.jpg")["Body"].read()) == 30


def test_saveas_refusals(imgd, styled):
    body = f"x-oss-process=image/resize,w_30|sys/saveas,o_{b64('x.jpg')}"
    anonymous = requests.post(f"{imgd.endpoint}/styled/saw.jpg?x-oss-process", data=body, timeout=10)
    assert anonymous.status_code == 403 and "<Code>AccessDenied</Code>" in anonymous.text

    wrong = signed_post(imgd, "styled/saw.jpg", body, secret_key="not-the-secret")
    assert wrong.status_code == 403 and "SignatureDoesNotMatch" in wrong.text

    reader = imgd.cli("key", "create", "--bucket", "styled:read").stdout
    ak = reader.split("access_key = ")[1].split()[0]
    sk = reader.split("secret_key = ")[1].split()[0]
    read_only = signed_post(imgd, "styled/saw.jpg", body, access_key=ak, secret_key=sk)
    assert read_only.status_code == 403

    no_target = signed_post(imgd, "styled/saw.jpg", "x-oss-process=image/resize,w_30")
    assert no_target.status_code == 400 and "saveas" in no_target.text
    bad_ops = signed_post(imgd, "styled/saw.jpg", f"x-oss-process=image/resize,w_0|sys/saveas,o_{b64('y.jpg')}")
    assert bad_ops.status_code == 400 and "InvalidArgument" in bad_ops.text
    missing_bucket = signed_post(imgd, "styled/saw.jpg", f"{body},b_{b64('nosuchbucket')}")
    assert missing_bucket.status_code == 404 and "NoSuchBucket" in missing_bucket.text
    s3 = imgd.client()
    for key in ("x.jpg", "y.jpg"):
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket="styled", Key=key)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, key


def test_styles_and_buckets_from_the_config_file(tmp_path):
    cfg = tmp_path / "imgd.toml"
    cfg.write_text(
        '[[buckets]]\nname = "configured"\npublic = true\nstyle_delimiters = ["!"]\n'
        '[buckets.styles]\nsmall = "image/resize,w_25"\n'
    )
    server = Imgd(tmp_path / "data", env={"IMGD_CONFIG": str(cfg)}).start()
    try:
        server.client().put_object(Bucket="configured", Key="saw.jpg", Body=SAW)
        r = requests.get(f"{server.endpoint}/configured/saw.jpg!small", timeout=30)
        assert r.status_code == 200 and width_of(r.content) == 25
    finally:
        server.stop()
    bad = tmp_path / "bad.toml"
    bad.write_text('[[buckets]]\nname = "configured"\n[buckets.styles]\nsmall = "image/resize,w_0"\n')
    broken = Imgd(tmp_path / "data2", env={"IMGD_CONFIG": str(bad)})
    with pytest.raises(RuntimeError, match="small"):
        broken.start(timeout=5)


def test_admission_control_answers_503_with_retry_after(tmp_path):
    server = Imgd(tmp_path / "data", env={
        "IMGD_PROCESS_MEMORY_LIMIT_MB": "300",
        "IMGD_PROCESS_WORKERS": "1",
        "IMGD_PROCESS_QUEUE_WAIT_MS": "0",
    }).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="busy", ACL="public-read")
        s3.put_object(Bucket="busy", Key="big.jpg", Body=(CORPUS / "photo4000.jpg").read_bytes())

        def fetch(i):
            return requests.get(f"{server.endpoint}/busy/big.jpg",
                                params={"x-oss-process": f"image/resize,w_{1000 + i}/blur,r_10,s_10"}, timeout=60)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(fetch, range(8)))
        statuses = sorted(r.status_code for r in results)
        assert 200 in statuses and 503 in statuses, statuses
        assert set(statuses) <= {200, 503}
        busy = next(r for r in results if r.status_code == 503)
        assert int(busy.headers["Retry-After"]) >= 1 and "<Code>SlowDown</Code>" in busy.text
        # Once the load is gone, requests are served again.
        assert fetch(99).status_code == 200
    finally:
        server.stop()


def test_time_budget_stops_a_long_job_with_a_4xx(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_PROCESS_TIME_BUDGET_MS": "1"}).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="slow", ACL="public-read")
        s3.put_object(Bucket="slow", Key="big.jpg", Body=(CORPUS / "photo4000.jpg").read_bytes())
        r = requests.get(f"{server.endpoint}/slow/big.jpg",
                         params={"x-oss-process": "image/rotate,33/blur,r_20,s_20/sharpen,200"}, timeout=60)
        assert r.status_code == 400 and "time budget" in r.text, r.text
        assert requests.get(f"{server.endpoint}/_imgd/health", timeout=5).status_code == 200
    finally:
        server.stop()
