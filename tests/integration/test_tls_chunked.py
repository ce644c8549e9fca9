"""Over TLS, boto3 and the aws CLI upload with aws-chunked bodies and trailing checksums
(STREAMING-UNSIGNED-PAYLOAD-TRAILER). imgd runs behind a TLS-terminating proxy here, as it
would behind a load balancer."""
import os
import socket
import ssl
import subprocess
import threading
import zlib
import base64

import pytest
from botocore.exceptions import ClientError

from conftest import s3_client


class TlsProxy:
    def __init__(self, backend_port: int, cert: str, key: str):
        self.backend_port = backend_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client):
        try:
            tls = self.ctx.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        backend = socket.create_connection(("127.0.0.1", self.backend_port))

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(tls, backend), daemon=True).start()
        pump(backend, tls)

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def tls_endpoint(imgd, tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    proxy = TlsProxy(imgd.port, cert, key)
    yield f"https://127.0.0.1:{proxy.port}", cert
    proxy.close()


def test_boto3_over_tls_uses_trailing_checksums(tls_endpoint, imgd):
    endpoint, cert = tls_endpoint
    s3 = s3_client(endpoint)
    s3._endpoint.http_session._verify = cert
    s3.create_bucket(Bucket="tls-chunked")
    events = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: events.append(dict(request.headers)))
    body = os.urandom(300_000)
    import io

    s3.put_object(Bucket="tls-chunked", Key="k", Body=io.BytesIO(body))
    sent = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in events[-1].items()}
    assert sent["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert "aws-chunked" in sent["content-encoding"]
    assert sent["x-amz-trailer"] == "x-amz-checksum-crc32"
    head = s3.head_object(Bucket="tls-chunked", Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert "ContentEncoding" not in head, "aws-chunked is a transfer encoding, not stored"
    assert s3.get_object(Bucket="tls-chunked", Key="k")["Body"].read() == body

    # Multipart over TLS: every part is aws-chunked with its own trailer.
    big = os.urandom(11 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(big), "tls-chunked", "multi")
    assert s3.get_object(Bucket="tls-chunked", Key="multi")["Body"].read() == big


def test_wrong_trailing_checksum_is_refused(tls_endpoint):
    endpoint, cert = tls_endpoint
    s3 = s3_client(endpoint)
    s3._endpoint.http_session._verify = cert
    s3.create_bucket(Bucket="tls-bad")

    def corrupt_trailer(request, **_):
        body = request.body
        data = body.read() if hasattr(body, "read") else body
        if isinstance(data, str):
            data = data.encode()
        marker = b"x-amz-checksum-crc32:"
        i = data.rfind(marker)
        assert i > 0, "expected a trailer in the aws-chunked body"
        j = data.index(b"\r\n", i)
        request.body = data[: i + len(marker)] + b"AAAAAA==" + data[j:]

    s3.meta.events.register("before-send.s3.PutObject", corrupt_trailer)
    import io

    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="tls-bad", Key="k", Body=io.BytesIO(b"hello trailer"))
    assert e.value.response["Error"]["Code"] == "BadDigest"
    s3.meta.events.unregister("before-send.s3.PutObject", corrupt_trailer)
    with pytest.raises(ClientError):
        s3.head_object(Bucket="tls-bad", Key="k")
