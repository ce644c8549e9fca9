"""The other real clients: aws CLI, rclone, s3cmd, minio-py and PicGo."""
import filecmp
import json
import os
import subprocess

import minio
import pytest
import requests

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, TOOLS, picgo_upload, tool


def run(cmd, env=None, **kw):
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, **kw)
    assert res.returncode == 0, f"{cmd} failed:\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def aws_env(tmp_path):
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
    )
    return env


def test_aws_cli_mb_cp_multipart_ls_cp_back_presign(imgd, tmp_path):
    env = aws_env(tmp_path)
    aws = [tool("aws"), "--endpoint-url", imgd.endpoint]
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20 * 1024 * 1024))  # over the CLI's 8 MiB threshold: multipart
    run(aws + ["s3", "mb", "s3://awscli"], env)
    run(aws + ["s3", "cp", str(src), "s3://awscli/dir/big.bin"], env)
    listing = run(aws + ["s3", "ls", "s3://awscli/dir/"], env)
    assert "big.bin" in listing and str(20 * 1024 * 1024) in listing
    head = json.loads(run(aws + ["s3api", "head-object", "--bucket", "awscli", "--key", "dir/big.bin"], env))
    assert head["ETag"].strip('"').endswith("-3"), head  # 8 + 8 + 4 MiB parts
    back = tmp_path / "back.bin"
    run(aws + ["s3", "cp", "s3://awscli/dir/big.bin", str(back)], env)
    assert filecmp.cmp(src, back, shallow=False)

    url = run(aws + ["s3", "presign", "s3://awscli/dir/big.bin", "--expires-in", "300"], env).strip()
    curl = subprocess.run(["curl", "-sf", "-o", str(tmp_path / "curl.bin"), url], timeout=120)
    assert curl.returncode == 0
    assert filecmp.cmp(src, tmp_path / "curl.bin", shallow=False)


def test_rclone_copy_and_check(imgd, s3, tmp_path):
    s3.create_bucket(Bucket="rclone")
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    for i in range(5):
        (src / f"f{i}.bin").write_bytes(os.urandom(1000 * (i + 1)))
    (src / "sub" / "photo.jpg").write_bytes((CORPUS / "flowers.jpeg").read_bytes())
    (src / "sub" / "big.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    env = dict(os.environ)
    env.update(
        RCLONE_CONFIG=str(tmp_path / "rclone.conf"),
        RCLONE_CONFIG_IMGD_TYPE="s3",
        RCLONE_CONFIG_IMGD_PROVIDER="Other",
        RCLONE_CONFIG_IMGD_ENDPOINT=imgd.endpoint,
        RCLONE_CONFIG_IMGD_ACCESS_KEY_ID=ACCESS_KEY,
        RCLONE_CONFIG_IMGD_SECRET_ACCESS_KEY=SECRET_KEY,
        RCLONE_CONFIG_IMGD_REGION="us-east-1",
        RCLONE_CONFIG_IMGD_FORCE_PATH_STYLE="true",
    )
    rclone = tool("rclone")
    run([rclone, "copy", str(src), "imgd:rclone/tree", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"], env)
    run([rclone, "check", str(src), "imgd:rclone/tree"], env)
    out = tmp_path / "out"
    run([rclone, "copy", "imgd:rclone/tree", str(out)], env)
    assert filecmp.cmp(src / "sub" / "big.bin", out / "sub" / "big.bin", shallow=False)


def test_s3cmd_put_get_ls_del(imgd, s3, tmp_path):
    s3.create_bucket(Bucket="s3cmd")
    cfg = tmp_path / "s3cfg"
    cfg.write_text("[default]\n")
    host = imgd.endpoint.removeprefix("http://")
    s3cmd = [
        tool("s3cmd"), "-c", str(cfg), "--no-ssl", f"--host={host}", f"--host-bucket={host}",
        f"--access_key={ACCESS_KEY}", f"--secret_key={SECRET_KEY}", "--region=us-east-1",
    ]
    src = tmp_path / "s3cmd.bin"
    src.write_bytes(os.urandom(300_000))
    run(s3cmd + ["put", str(src), "s3://s3cmd/a/s3cmd.bin"])
    assert "s3://s3cmd/a/s3cmd.bin" in run(s3cmd + ["ls", "-r", "s3://s3cmd"])
    back = tmp_path / "back.bin"
    run(s3cmd + ["get", "s3://s3cmd/a/s3cmd.bin", str(back)])
    assert filecmp.cmp(src, back, shallow=False)
    run(s3cmd + ["del", "s3://s3cmd/a/s3cmd.bin"])
    assert "s3cmd.bin" not in run(s3cmd + ["ls", "-r", "s3://s3cmd"])


def test_minio_put_get_presigned(imgd):
    import datetime
    import io

    m = minio.Minio(imgd.endpoint.removeprefix("http://"), access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)
    m.make_bucket("minio-py")
    data = os.urandom(200_000)
    m.put_object("minio-py", "obj.bin", io.BytesIO(data), len(data), content_type="image/webp")
    got = m.get_object("minio-py", "obj.bin")
    assert got.read() == data
    got.close()
    stat = m.stat_object("minio-py", "obj.bin")
    assert stat.size == len(data) and stat.content_type == "image/webp"
    # unknown length: minio-py streams it as multipart
    big = os.urandom(6 * 1024 * 1024)
    m.put_object("minio-py", "stream.bin", io.BytesIO(big), -1, part_size=5 * 1024 * 1024)
    assert m.get_object("minio-py", "stream.bin").read() == big
    url = m.presigned_get_object("minio-py", "obj.bin", expires=datetime.timedelta(minutes=5))
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == data
    assert [o.object_name for o in m.list_objects("minio-py")] == ["obj.bin", "stream.bin"]


def test_picgo_upload_then_anonymous_get(imgd, s3, tmp_path):
    s3.create_bucket(Bucket="picgo", ACL="public-read")
    img = CORPUS / "with-alpha.png"
    urls = [picgo_upload(imgd.endpoint, "picgo", img, tmp_path)]
    assert urls[0].startswith(f"{imgd.endpoint}/picgo/"), urls
    r = requests.get(urls[0], timeout=10)  # anonymous, like a browser
    assert r.status_code == 200
    assert r.content == img.read_bytes()
    assert r.headers["Content-Type"] == "image/png"
