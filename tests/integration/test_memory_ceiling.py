"""No URL takes the server past `process_memory_limit_mb` (default 1 GiB).

The heaviest process strings that can be built on a small public JPEG (36 and 64
megapixel intermediates, the widest blurs, sharpen, rotation, every encoder), sent
several at a time, while the server's peak resident memory (VmHWM) is read from /proc.
Each answer is a picture, a 400 that names the limit, or a 503 to retry: never a
crash, and the peak stays under the ceiling."""
import concurrent.futures
import pathlib

import requests

from conftest import CORPUS, Imgd
from settings_util import code_of

CEILING_MIB = 1024
SMALL = (CORPUS / "flowers.jpeg").read_bytes()
HEAVY = [
    "image/resize,w_8000,limit_0/blur,r_10,s_10",
    "image/resize,w_8000,limit_0/blur,r_50,s_50",
    "image/resize,w_8000,limit_0/sharpen,399",
    "image/resize,m_fixed,w_8000,h_8000,limit_0/blur,r_50,s_50/format,png",
    "image/resize,m_fixed,w_8000,h_8000,limit_0/sharpen,399/format,webp",
    "image/resize,w_8000,limit_0/rotate,45/format,png",
    "image/resize,w_8000,limit_0/format,avif",
    "image/resize,m_fixed,w_8000,h_8000,limit_0/format,avif",
    "image/resize,w_8000,limit_0/format,webp",
    "image/resize,m_pad,w_8000,h_8000,limit_0/format,png",
    "image/resize,w_8000,limit_0/watermark,text_aW1nZA,size_1000/format,jpg",
]


def peak_rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def test_the_heaviest_urls_stay_under_the_memory_ceiling(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_PROCESS_QUEUE_WAIT_MS": "30000"}).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="heavy", ACL="public-read")
        s3.put_object(Bucket="heavy", Key="small.jpg", Body=SMALL)
        baseline = peak_rss_mib(server.proc.pid)

        def fetch(ops):
            return ops, requests.get(f"{server.endpoint}/heavy/small.jpg",
                                     params={"x-oss-process": ops}, timeout=300)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(fetch, HEAVY))
        peak = peak_rss_mib(server.proc.pid)
        summary = {ops: r.status_code for ops, r in results}
        print(f"baseline {baseline:.0f} MiB, peak {peak:.0f} MiB, {summary}")
        assert server.proc.poll() is None, "the server died"
        for ops, r in results:
            assert r.status_code in (200, 400, 503), (ops, r.status_code, r.text[:300])
            if r.status_code == 400:
                assert code_of(r) == "InvalidArgument", r.text
        assert sum(r.status_code == 200 for _, r in results) >= 3, summary
        assert peak < CEILING_MIB, f"peak RSS {peak:.0f} MiB over the {CEILING_MIB} MiB ceiling: {summary}"
        # Still serving afterwards.
        after = requests.get(f"{server.endpoint}/heavy/small.jpg",
                             params={"x-oss-process": "image/resize,w_100"}, timeout=60)
        assert after.status_code == 200
    finally:
        server.stop()
