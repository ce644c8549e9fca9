"""A real browser (Debian's chromium under Playwright) on a page of another origin uploads a
picture straight to imgd's one-time direct-upload URL with fetch + FormData, as a site
using Cloudflare Images' direct creator uploads would, then shows the delivered variant in
an <img>. The screenshot is kept (pytest's tmp dir and /tmp/cf-browser.png)."""
import functools
import http.server
import pathlib
import shutil
import threading

import pytest
import requests
from PIL import Image

from conftest import CORPUS, Imgd, cf_result, cloudflare_account

HERE = pathlib.Path(__file__).resolve().parent
PHOTO = (CORPUS / "flowers.jpeg").read_bytes()
CHROMIUM = "/usr/bin/chromium"


class Site:
    """The uploading site: its own loopback origin, serving the page (with a fresh upload
    URL from imgd put in on every load, as the site's backend would) and the picture."""

    def __init__(self, fresh_upload_url):
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/":
                    site.upload_url = fresh_upload_url()
                    body = (HERE / "cloudflare_upload.html").read_text().replace("__UPLOAD_URL__", site.upload_url)
                    self.reply(body.encode(), "text/html; charset=utf-8")
                elif self.path == "/photo.jpg":
                    self.reply(PHOTO, "image/jpeg")
                else:
                    self.send_error(404)

            def reply(self, body: bytes, ctype: str):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.upload_url = None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Imgd(tmp_path_factory.mktemp("cf-browser") / "data").start()
    yield s
    s.stop()


def fresh_upload_url(server: Imgd, account_id: str, token: str, seen: list) -> str:
    r = requests.post(f"{server.endpoint}/client/v4/accounts/{account_id}/images/v2/direct_upload",
                      headers={"Authorization": f"Bearer {token}"}, data={"metadata": '{"via": "browser"}'},
                      timeout=10)
    res = cf_result(r)
    seen.append(res["id"])
    return res["uploadURL"]


def test_browser_uploads_to_the_one_time_url_and_shows_the_variant(server, tmp_path):
    if not pathlib.Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/setup-test-tools.sh")
    from playwright.sync_api import sync_playwright

    account_id, account_hash, bucket, token = cloudflare_account(server, "browser")
    ids: list[str] = []
    site = Site(functools.partial(fresh_upload_url, server, account_id, token, ids))
    console: list[str] = []
    try:
        with sync_playwright() as p:
            # Root in a container: chromium's sandbox needs user namespaces it may not get.
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 640, "height": 480})
                page.on("console", lambda m: console.append(m.text))
                page.goto(site.origin + "/")
                done = page.evaluate("window.uploadDone")
                assert "error" not in done, (done, console)
                assert done["status"] == 200 and done["answer"]["success"] is True, (done, console)
                result = done["answer"]["result"]
                assert result["id"] == ids[-1] and result["meta"] == {"via": "browser"}
                assert done["shown"] == f"{server.endpoint}/{account_hash}/{ids[-1]}/public"
                assert done["naturalWidth"] > 0 and done["naturalHeight"] > 0
                page.wait_for_function("document.getElementById('shown').naturalWidth > 0")
                box = page.locator("#shown").bounding_box()
                shot = tmp_path / "cf-browser.png"
                page.screenshot(path=str(shot))
            finally:
                browser.close()
    finally:
        site.close()
    shutil.copyfile(shot, "/tmp/cf-browser.png")

    # What was stored is the picture the page posted.
    assert server.client().get_object(Bucket=bucket, Key=ids[-1])["Body"].read() == PHOTO
    # The URL was used once: a second post is refused.
    again = requests.post(site.upload_url, files={"file": ("x.jpg", PHOTO, "image/jpeg")}, timeout=30)
    assert again.status_code in (409, 410), again.status_code

    # The picture really rendered in the <img>'s box: mostly not the white page background,
    # and not one flat colour.
    shown = Image.open(shot).convert("RGB")
    assert box and box["width"] == 400 and box["height"] > 100, box
    region = shown.crop((int(box["x"]) + 2, int(box["y"]) + 2,
                         int(box["x"] + box["width"]) - 2, int(box["y"] + box["height"]) - 2))
    pixels = list(getattr(region, "get_flattened_data", region.getdata)())
    non_white = sum(1 for px in pixels if min(px) < 235)
    assert non_white > 0.5 * len(pixels), non_white / len(pixels)
    assert len(set(pixels)) > 500
    # Outside the box the page is white.
    assert shown.getpixel((5, shown.height - 5)) == (255, 255, 255)
    # The photo is wider than tall, and so is what the page shows.
    assert abs(box["width"] / box["height"] - 1920 / 1080) < 0.05
