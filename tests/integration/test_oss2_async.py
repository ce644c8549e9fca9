"""AsyncProcessObject (`x-oss-async-process`) driven by `oss2`'s `async_process_object`:
OSS's task JSON, the saveas object appearing once the background task ran (its pixels
checked), the task's outcome through the admin API, refusals that queue nothing, tasks
that survive a SIGKILL before and while they run, and busy renderers that delay tasks
without failing them."""
import base64
import io
import signal
import sqlite3
import threading
import time
import uuid

import oss2
import pytest
import requests
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd, metric

SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()
BIG = (CORPUS / "photo4000.jpg").read_bytes()
TOKEN = "async-admin-token-0123456789"


def b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode()


def size_of(content: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(content)).size


def saveas(key: str, bucket: str | None = None) -> str:
    return f"sys/saveas,o_{b64(key)}" + (f",b_{b64(bucket)}" if bucket else "")


def task_of(server: Imgd, task_id: str) -> dict:
    r = requests.get(f"{server.endpoint}/_imgd/admin/async-tasks/{task_id}",
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def finished(server: Imgd, task_id: str, timeout: float = 120.0) -> dict:
    """The task once it is done or failed (polled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = task_of(server, task_id)
        if t["state"] in ("done", "failed"):
            return t
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish: {task_of(server, task_id)}\n{server.log()}")


def task_rows(server: Imgd, where: str = "1") -> int:
    """Rows of the task table (read beside the server, or after it died)."""
    db = sqlite3.connect(f"file:{server.data_dir / 'imgd.db'}?mode=ro", uri=True)
    try:
        return db.execute(f"SELECT COUNT(*) FROM async_tasks WHERE {where}").fetchone()[0]
    finally:
        db.close()


def new_bucket(server: Imgd) -> str:
    name = f"async-{uuid.uuid4().hex[:10]}"
    server.client().create_bucket(Bucket=name)
    return name


def key_for(server: Imgd, grant: str) -> tuple[str, str]:
    out = server.cli("key", "create", "--bucket", grant).stdout
    return out.split("access_key = ")[1].split()[0], out.split("secret_key = ")[1].split()[0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("async") / "data", env={"IMGD_ADMIN_TOKEN": TOKEN}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def name(srv):
    return new_bucket(srv)


@pytest.fixture(scope="module")
def bucket(srv, name):
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), srv.endpoint, name)
    b.put_object("saw.jpg", SAW, headers={"Content-Type": "image/jpeg"})
    return b


def test_async_process_answers_a_task_and_saves_the_result(srv, bucket, name):
    other = new_bucket(srv)
    result = bucket.async_process_object("saw.jpg", f"image/resize,w_100|{saveas('thumbs/100.jpg', other)}")
    assert result.status == 200
    assert result.task_id.startswith("ImageProcess-") and result.event_id
    assert result.async_request_id == result.request_id
    task = finished(srv, result.task_id)
    assert task["state"] == "done", task
    saved = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), srv.endpoint, other).get_object("thumbs/100.jpg").read()
    assert size_of(saved)[0] == 100
    assert task["saved"] == {"bucket": other, "key": "thumbs/100.jpg", "size": len(saved)}
    assert task["bucket"] == name and task["key"] == "saw.jpg" and task["error"] is None
    # Two tasks get two ids.
    again = bucket.async_process_object("saw.jpg", f"image/resize,w_100|{saveas('thumbs/100b.jpg')}")
    assert again.task_id != result.task_id


def test_without_a_target_bucket_the_result_lands_beside_the_source(srv, bucket):
    result = bucket.async_process_object(
        "saw.jpg", f"image/resize,m_fixed,w_64,h_48/format,png|{saveas('thumbs/64x48.png')}")
    assert finished(srv, result.task_id)["state"] == "done"
    got = bucket.get_object("thumbs/64x48.png")
    data = got.read()
    assert size_of(data) == (64, 48) and Image.open(io.BytesIO(data)).format == "PNG"
    assert got.content_type == "image/png"


def test_a_style_may_name_the_work(srv, bucket):
    bucket.put_bucket_style("small", "image/resize,w_30")
    result = bucket.async_process_object("saw.jpg", f"style/small|{saveas('thumbs/styled.jpg')}")
    assert finished(srv, result.task_id)["state"] == "done"
    assert size_of(bucket.get_object("thumbs/styled.jpg").read())[0] == 30


def test_refusals_are_oss_errors_and_queue_nothing(srv, bucket, name):
    before = task_rows(srv)
    cases = [
        ("saw.jpg", f"image/resize,w_abc|{saveas('x.jpg')}", oss2.exceptions.InvalidArgument, 400),
        ("saw.jpg", "image/resize,w_10", oss2.exceptions.InvalidArgument, 400),
        ("saw.jpg", f"style/undefined|{saveas('x.jpg')}", oss2.exceptions.InvalidArgument, 400),
        ("missing.jpg", f"image/resize,w_10|{saveas('x.jpg')}", oss2.exceptions.NoSuchKey, 404),
        ("saw.jpg", f"image/resize,w_10|{saveas('x.jpg', 'no-such-target-bucket')}",
         oss2.exceptions.NoSuchBucket, 404),
        ("saw.jpg", f"video/convert,f_mp4|{saveas('x.mp4')}", oss2.exceptions.ServerError, 501),
        ("saw.jpg", f"image/resize,w_10|{saveas('x.jpg')}/notify,topic_{b64('t')}",
         oss2.exceptions.ServerError, 501),
    ]
    for key, process, error, status in cases:
        with pytest.raises(error) as e:
            bucket.async_process_object(key, process)
        assert e.value.status == status, (process, e.value)
        if status == 501:
            assert e.value.code == "NotImplemented" and e.value.message, process
    # A key that may read the source but write nowhere, and one without the source.
    reader = oss2.Bucket(oss2.Auth(*key_for(srv, f"{name}:read")), srv.endpoint, name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        reader.async_process_object("saw.jpg", f"image/resize,w_10|{saveas('x.jpg')}")
    elsewhere = new_bucket(srv)
    writer = oss2.Bucket(oss2.Auth(*key_for(srv, f"{elsewhere}:read-write")), srv.endpoint, name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        writer.async_process_object("saw.jpg", f"image/resize,w_10|{saveas('x.jpg', elsewhere)}")
    assert task_rows(srv) == before
    assert not bucket.object_exists("x.jpg")
    # An unknown task id is the admin API's 404.
    r = requests.get(f"{srv.endpoint}/_imgd/admin/async-tasks/ImageProcess-nope",
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 404 and r.json()["error"] == "NoSuchTask"


def test_a_task_whose_source_is_gone_when_it_runs_fails_with_oss_code(tmp_path):
    data = tmp_path / "data"
    paused = Imgd(data, env={"IMGD_ASYNC_PROCESS_WORKERS": "0", "IMGD_ADMIN_TOKEN": TOKEN}).start()
    try:
        name = new_bucket(paused)
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), paused.endpoint, name)
        b.put_object("gone.jpg", SAW)
        task_id = b.async_process_object("gone.jpg", f"image/resize,w_10|{saveas('out.jpg')}").task_id
        b.delete_object("gone.jpg")
    finally:
        paused.stop()
    server = Imgd(data, env={"IMGD_ADMIN_TOKEN": TOKEN}).start()
    try:
        task = finished(server, task_id)
        assert task["state"] == "failed" and task["error"]["code"] == "NoSuchKey", task
        assert task["saved"] is None
        assert not oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.endpoint, name).object_exists("out.jpg")
    finally:
        server.stop()


def test_tasks_survive_a_kill_before_they_run(tmp_path):
    data = tmp_path / "data"
    # No workers: tasks are accepted and kept, and can only run after the restart.
    paused = Imgd(data, env={"IMGD_ASYNC_PROCESS_WORKERS": "0", "IMGD_ADMIN_TOKEN": TOKEN}).start()
    try:
        name = new_bucket(paused)
        root = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), paused.endpoint, name)
        root.put_object("src.jpg", SAW)
        ak, sk = key_for(paused, f"{name}:read-write")
        keyed = oss2.Bucket(oss2.Auth(ak, sk), paused.endpoint, name)
        widths = (40, 50, 60)
        tasks = {w: root.async_process_object("src.jpg", f"image/resize,w_{w}|{saveas(f'out/{w}.jpg')}").task_id
                 for w in widths}
        by_key = keyed.async_process_object("src.jpg", f"image/resize,w_70|{saveas('out/keyed.jpg')}").task_id
        # A second key is revoked before its task can run.
        ak2, sk2 = key_for(paused, f"{name}:read-write")
        second = oss2.Bucket(oss2.Auth(ak2, sk2), paused.endpoint, name)
        revoked = second.async_process_object("src.jpg", f"image/resize,w_80|{saveas('out/revoked.jpg')}").task_id
        paused.cli("key", "revoke", ak2)
        assert all(task_of(paused, t)["state"] == "queued" for t in [*tasks.values(), by_key, revoked])
        assert not root.object_exists("out/40.jpg")
        assert paused.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        paused.stop()

    server = Imgd(data, env={"IMGD_ADMIN_TOKEN": TOKEN}).start()
    try:
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.endpoint, name)
        for w, task_id in tasks.items():
            assert finished(server, task_id)["state"] == "done"
            assert size_of(b.get_object(f"out/{w}.jpg").read())[0] == w
        assert finished(server, by_key)["state"] == "done"
        assert size_of(b.get_object("out/keyed.jpg").read())[0] == 70
        # It runs as the key that submitted it, which no longer exists.
        t = finished(server, revoked)
        assert t["state"] == "failed" and t["error"]["code"] == "AccessDenied", t
        assert not b.object_exists("out/revoked.jpg")
    finally:
        server.stop()


def test_tasks_interrupted_while_running_run_again_after_a_restart(tmp_path):
    data = tmp_path / "data"
    env = {"IMGD_ADMIN_TOKEN": TOKEN, "IMGD_ASYNC_PROCESS_WORKERS": "1", "IMGD_CACHE_ENABLED": "false"}
    first = Imgd(data, env=env).start()
    try:
        name = new_bucket(first)
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), first.endpoint, name)
        b.put_object("big.jpg", BIG)
        # Slow enough that one worker is still busy with them when the kill comes.
        tasks = {w: b.async_process_object(
            "big.jpg", f"image/blur,r_20,s_20/resize,w_{w}|{saveas(f'out/{w}.jpg')}").task_id
            for w in range(100, 112)}
        first.stop(signal.SIGKILL)
        # Twelve such renders take one worker seconds; the kill came long before.
        assert task_rows(first, "state IN ('queued', 'running')") > 0
    finally:
        first.stop()
    server = Imgd(data, env=env).start()
    try:
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.endpoint, name)
        for w, task_id in tasks.items():
            assert finished(server, task_id, timeout=300)["state"] == "done"
            assert size_of(b.get_object(f"out/{w}.jpg").read())[0] == w
    finally:
        server.stop()


def test_busy_renderers_delay_tasks_without_failing_them(tmp_path):
    # One render at a time, no waiting for it: requests get 503 while it is taken, and
    # tasks wait their turn instead.
    env = {"IMGD_ADMIN_TOKEN": TOKEN, "IMGD_PROCESS_WORKERS": "1", "IMGD_PROCESS_QUEUE_WAIT_MS": "0",
           "IMGD_CACHE_ENABLED": "false"}
    server = Imgd(tmp_path / "data", env=env).start()
    stop = threading.Event()
    try:
        name = new_bucket(server)
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.endpoint, name)
        b.put_object("big.jpg", BIG)

        def flood():
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    b.get_object("big.jpg", process=f"image/resize,w_{1000 + i % 500}/blur,r_10,s_10").read()
                except oss2.exceptions.OssError:
                    pass  # 503 while the other thread renders

        threads = [threading.Thread(target=flood) for _ in range(2)]
        for t in threads:
            t.start()
        tasks = {w: b.async_process_object("big.jpg", f"image/resize,w_{w}|{saveas(f'out/{w}.jpg')}").task_id
                 for w in range(200, 204)}
        deadline = time.monotonic() + 120
        while metric(server, "imgd_async_tasks_total", outcome="busy") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        # Some task found the renderers taken (and was put back in the queue).
        assert metric(server, "imgd_async_tasks_total", outcome="busy") > 0
        stop.set()
        for t in threads:
            t.join()
        for w, task_id in tasks.items():
            task = finished(server, task_id)
            assert task["state"] == "done", task
            assert size_of(b.get_object(f"out/{w}.jpg").read())[0] == w
    finally:
        stop.set()
        server.stop()
