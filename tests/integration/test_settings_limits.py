"""Processing limits and admission settings, set through the environment, each tested on
both sides: just within the limit is served, just over it is refused with 400
InvalidArgument and a message naming the limit (or 503 SlowDown for admission)."""
import concurrent.futures

import pytest
import requests

from conftest import CORPUS, Imgd
from settings_util import code_of, dims, gif, gif_frames, message_of, noisy_png, png

MAX_PIXELS = 120_000  # 400 x 300; the corpus GIF (370 x 285) fits
MAX_SIDE = 300
MAX_FRAMES = 5
# An object of exactly MAX_BYTES is processed; one byte more is not.
AT_BYTES = noisy_png(100, 100)
MAX_BYTES = len(AT_BYTES)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("limits") / "data", env={
        "IMGD_MAX_SOURCE_PIXELS": str(MAX_PIXELS),
        "IMGD_MAX_SOURCE_BYTES": str(MAX_BYTES),
        "IMGD_MAX_OUTPUT_SIDE": str(MAX_SIDE),
        "IMGD_MAX_ANIMATION_FRAMES": str(MAX_FRAMES),
    }).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="lim", ACL="public-read")
        objects = {
            "at-pixels.png": png(400, 300),
            "over-pixels.png": png(401, 300),
            "at-bytes.png": AT_BYTES,
            "over-bytes.png": AT_BYTES + b"\0",
            "strip.png": png(100, 20),
            "at-frames.gif": gif(MAX_FRAMES),
            "over-frames.gif": gif(MAX_FRAMES + 1),
            "corpus-10-frames.gif": (CORPUS / "animated-loop-3.gif").read_bytes(),
        }
        for key, body in objects.items():
            s3.put_object(Bucket="lim", Key=key, Body=body)
        yield server
    finally:
        server.stop()


def process(server: Imgd, key: str, ops: str) -> requests.Response:
    return requests.get(f"{server.endpoint}/lim/{key}", params={"x-oss-process": ops}, timeout=60)


def assert_refused(r: requests.Response, *words: str):
    assert r.status_code == 400, (r.status_code, r.text)
    assert code_of(r) == "InvalidArgument", r.text
    msg = message_of(r)
    for w in words:
        assert w in msg, (w, msg)


def test_max_source_pixels_both_sides(limited):
    ok = process(limited, "at-pixels.png", "image/resize,w_40")
    assert ok.status_code == 200, ok.text
    assert dims(ok.content) == (40, 30)
    over = process(limited, "over-pixels.png", "image/resize,w_40")
    assert_refused(over, "401x300", str(MAX_PIXELS))
    # The limit is on processing only: the object itself is still served as stored.
    plain = requests.get(f"{limited.endpoint}/lim/over-pixels.png", timeout=30)
    assert plain.status_code == 200 and dims(plain.content) == (401, 300)


def test_max_source_bytes_both_sides(limited):
    ok = process(limited, "at-bytes.png", "image/resize,w_40")
    assert ok.status_code == 200, ok.text
    assert dims(ok.content) == (40, 40)
    over = process(limited, "over-bytes.png", "image/resize,w_40")
    assert_refused(over, str(MAX_BYTES + 1), str(MAX_BYTES))
    plain = requests.get(f"{limited.endpoint}/lim/over-bytes.png", timeout=30)
    assert plain.status_code == 200 and plain.content == AT_BYTES + b"\0"


def test_max_output_side_both_sides(limited):
    ok = process(limited, "strip.png", f"image/resize,w_{MAX_SIDE},limit_0")
    assert ok.status_code == 200, ok.text
    assert dims(ok.content) == (MAX_SIDE, 60)
    over = process(limited, "strip.png", f"image/resize,w_{MAX_SIDE + 1},limit_0")
    assert_refused(over, str(MAX_SIDE + 1), str(MAX_SIDE))


def test_max_animation_frames_both_sides(limited):
    ok = process(limited, "at-frames.gif", "image/resize,w_8")
    assert ok.status_code == 200, ok.text
    assert ok.headers["Content-Type"] == "image/gif"
    assert gif_frames(ok.content) == MAX_FRAMES and dims(ok.content) == (8, 8)
    over = process(limited, "over-frames.gif", "image/resize,w_8")
    assert_refused(over, f"{MAX_FRAMES + 1} frames", str(MAX_FRAMES))
    corpus = process(limited, "corpus-10-frames.gif", "image/resize,w_100")
    assert_refused(corpus, "10 frames", str(MAX_FRAMES))


# Admission: four servers that differ in one setting at a time. Each request renders a
# 12 MP photo with its own width (no coalescing, no cache hit), all sent at once.
BIG = (CORPUS / "photo4000.jpg").read_bytes()
JOBS = 4


def concurrent_renders(env: dict, tmp_path) -> list[requests.Response]:
    server = Imgd(tmp_path / "data", env=env).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="adm", ACL="public-read")
        s3.put_object(Bucket="adm", Key="big.jpg", Body=BIG)

        def fetch(i):
            return requests.get(f"{server.endpoint}/adm/big.jpg",
                                params={"x-oss-process": f"image/resize,w_{2000 + i}/blur,r_10,s_10"}, timeout=120)

        with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
            results = list(pool.map(fetch, range(JOBS)))
        assert {r.status_code for r in results} <= {200, 503}, [r.text for r in results]
        for r in results:
            if r.status_code == 503:
                assert code_of(r) == "SlowDown" and int(r.headers["Retry-After"]) >= 1
            else:
                assert dims(r.content)[0] in range(2000, 2000 + JOBS)
        return results
    finally:
        server.stop()


def statuses(results) -> list[int]:
    return sorted(r.status_code for r in results)


def test_budget_and_workers_large_enough_admit_every_job_at_once(tmp_path):
    # 4 x 12 MP fit in 100 MP and 4 workers: nothing waits, so a zero wait refuses nothing.
    results = concurrent_renders({
        "IMGD_PROCESS_MEMORY_LIMIT_MB": "1024",
        "IMGD_PROCESS_WORKERS": str(JOBS),
        "IMGD_PROCESS_QUEUE_WAIT_MS": "0",
    }, tmp_path)
    assert statuses(results) == [200] * JOBS


def test_process_memory_limit_mb_refuses_what_does_not_fit(tmp_path):
    # Same workers, but 448 MiB (320 for rendering) holds one of these jobs at a time:
    # each decodes the 12 MP photo at full size (about 190 MiB at its peak, estimated).
    results = concurrent_renders({
        "IMGD_PROCESS_MEMORY_LIMIT_MB": "448",
        "IMGD_PROCESS_WORKERS": str(JOBS),
        "IMGD_PROCESS_QUEUE_WAIT_MS": "0",
    }, tmp_path)
    assert 200 in statuses(results) and 503 in statuses(results), statuses(results)


def test_process_workers_bounds_jobs_at_once(tmp_path):
    # Budget enough for all, but one worker.
    results = concurrent_renders({
        "IMGD_PROCESS_MEMORY_LIMIT_MB": "1024",
        "IMGD_PROCESS_WORKERS": "1",
        "IMGD_PROCESS_QUEUE_WAIT_MS": "0",
    }, tmp_path)
    assert 200 in statuses(results) and 503 in statuses(results), statuses(results)


def test_process_queue_wait_ms_lets_jobs_wait_their_turn(tmp_path):
    # One worker again, but a minute's wait: every job runs, one after another. (Each
    # takes about a second here, so the last waits longer than the 2 s default would.)
    results = concurrent_renders({
        "IMGD_PROCESS_MEMORY_LIMIT_MB": "1024",
        "IMGD_PROCESS_WORKERS": "1",
        "IMGD_PROCESS_QUEUE_WAIT_MS": "60000",
    }, tmp_path)
    assert statuses(results) == [200] * JOBS


def test_process_memory_limit_mb_refuses_a_job_that_could_never_fit(tmp_path):
    # 256 MiB leaves 128 for rendering; the same job needs more than that alone, so it is
    # refused at once with a message naming the setting, not queued forever or run anyway.
    server = Imgd(tmp_path / "data", env={"IMGD_PROCESS_MEMORY_LIMIT_MB": "256"}).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="adm", ACL="public-read")
        s3.put_object(Bucket="adm", Key="big.jpg", Body=BIG)
        r = requests.get(f"{server.endpoint}/adm/big.jpg",
                         params={"x-oss-process": "image/resize,w_2000/blur,r_10,s_10"}, timeout=60)
        assert r.status_code == 400 and code_of(r) == "InvalidArgument", r.text
        assert "process_memory_limit_mb" in message_of(r) and "MiB" in message_of(r)
        # A small render of the same photo still fits.
        small = requests.get(f"{server.endpoint}/adm/big.jpg",
                             params={"x-oss-process": "image/resize,w_200"}, timeout=60)
        assert small.status_code == 200 and dims(small.content) == (200, 150)
    finally:
        server.stop()


def test_process_memory_limit_mb_must_leave_room_to_render(tmp_path):
    broken = Imgd(tmp_path / "data", env={"IMGD_PROCESS_MEMORY_LIMIT_MB": "100"})
    with pytest.raises(RuntimeError, match="process_memory_limit_mb must be at least 256"):
        broken.start(timeout=5)
