"""Downloads against a local HTTP server on 127.0.0.1 (never the real internet)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import tarfile
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from glassnet.data import DatasetNotFoundError, load
from glassnet.data import download as dl
from glassnet.data.formats import write_idx


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    """Let urlopen reach file:// and 127.0.0.1 only; anything else fails the test."""
    real_urlopen = urllib.request.urlopen

    def guarded(request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "file" and parts.hostname not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"test tried to reach the internet: {url}")
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)
    monkeypatch.delenv("GLASSNET_DATA", raising=False)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path.startswith("/short/"):  # promise more bytes than are sent, then hang up
            body = b"x" * 100
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (base_url, folder, list of request paths)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = lambda *a, **k: _Handler(*a, directory=str(www), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", www, httpd.requests
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens: connection refused


def remote_for(path: Path, urls, md5=None, size="auto") -> dl.RemoteFile:
    data = path.read_bytes()
    return dl.RemoteFile(
        path.name,
        md5 or hashlib.md5(data).hexdigest(),
        len(data) if size == "auto" else size,
        tuple(urls),
    )


def leftovers(folder: Path):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ----------------------------------------------------------------------- download_file


def test_download_verifies_and_writes(server, tmp_path):
    base, www, requests = server
    (www / "a.bin").write_bytes(os.urandom(3 * dl.CHUNK + 17))
    dest = tmp_path / "cache" / "sub"
    path = dl.download_file(remote_for(www / "a.bin", [base + "a.bin"]), dest)
    assert path == dest / "a.bin"
    assert path.read_bytes() == (www / "a.bin").read_bytes()
    assert requests == ["/a.bin"] and leftovers(dest) == []


def test_download_is_atomic(server, tmp_path, monkeypatch):
    base, www, _ = server
    (www / "a.bin").write_bytes(b"hello" * 1000)
    dest = tmp_path / "cache"
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((Path(src), Path(dst), Path(dst).exists(), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(dl.os, "replace", spy)
    dl.download_file(remote_for(www / "a.bin", [base + "a.bin"]), dest)
    (src, dst, existed, content) = calls[0]
    assert src.parent == dst.parent == dest and src.name.startswith(".a.bin.")
    assert not existed and content == b"hello" * 1000  # complete before it gets its name


def test_checksum_mismatch_removes_file(server, tmp_path):
    base, www, _ = server
    (www / "a.bin").write_bytes(b"tampered content")
    remote = remote_for(www / "a.bin", [base + "a.bin"], md5="0" * 32)
    dest = tmp_path / "cache"
    with pytest.raises(dl.DownloadError, match="MD5 mismatch") as info:
        dl.download_file(remote, dest)
    assert info.value.errors[0][0] == base + "a.bin"
    assert list(dest.iterdir()) == []  # neither the file nor a temp file is left


def test_size_mismatch_and_short_read(server, tmp_path):
    base, www, _ = server
    (www / "a.bin").write_bytes(b"12345")
    dest = tmp_path / "cache"
    with pytest.raises(dl.DownloadError, match="expected 6"):
        dl.download_file(remote_for(www / "a.bin", [base + "a.bin"], size=6), dest)
    short = dl.RemoteFile("s.bin", None, None, (base + "short/s.bin",))
    with pytest.raises(dl.DownloadError):
        dl.download_file(short, dest)
    assert list(dest.iterdir()) == []


def test_mirror_fallback(server, tmp_path):
    base, www, requests = server
    (www / "good").mkdir()
    (www / "bad").mkdir()
    (www / "good" / "f.gz").write_bytes(b"the real bytes")
    (www / "bad" / "f.gz").write_bytes(b"corrupted bytes")
    urls = [
        closed_port_url() + "f.gz",
        base + "missing/f.gz",
        base + "bad/f.gz",
        base + "good/f.gz",
    ]
    remote = remote_for(www / "good" / "f.gz", urls, size=None)
    path = dl.download_file(remote, tmp_path / "cache")
    assert path.read_bytes() == b"the real bytes"
    assert requests == ["/missing/f.gz", "/bad/f.gz", "/good/f.gz"]
    assert leftovers(tmp_path / "cache") == []


def test_all_mirrors_fail(server, tmp_path):
    base, _, _ = server
    urls = (closed_port_url() + "x.gz", base + "nope/x.gz")
    with pytest.raises(dl.DownloadError) as info:
        dl.download_file(dl.RemoteFile("x.gz", None, None, urls), tmp_path)
    assert [url for url, _ in info.value.errors] == list(urls)
    assert "404" in str(info.value) and "x.gz" in str(info.value)
    assert not (tmp_path / "x.gz").exists()


def test_file_url(tmp_path):
    src = tmp_path / "src" / "f.bin"
    src.parent.mkdir()
    src.write_bytes(b"local")
    path = dl.download_file(remote_for(src, [src.as_uri()]), tmp_path / "dest")
    assert path.read_bytes() == b"local"


def test_md5sum(tmp_path):
    data = os.urandom(2 * dl.CHUNK + 5)
    (tmp_path / "f").write_bytes(data)
    assert dl.md5sum(tmp_path / "f") == hashlib.md5(data).hexdigest()


def test_progress_bar_quiet_under_ci(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(dl.sys, "stderr", Tty())
    monkeypatch.setenv("CI", "true")
    assert isinstance(dl._progress_bar(10, "x"), dl._NoBar)
    monkeypatch.delenv("CI")
    bar = dl._progress_bar(10, "x")
    assert not isinstance(bar, dl._NoBar)  # tqdm is installed in the dev environment
    bar.close()
    monkeypatch.setattr(dl.sys, "stderr", io.StringIO())  # not a terminal
    assert isinstance(dl._progress_bar(10, "x"), dl._NoBar)


def test_canonical_urls_have_mirrors():
    for name, remotes in dl.REMOTE_FILES.items():
        for remote in remotes:
            assert remote.md5 and len(remote.md5) == 32 and remote.size
            assert all(url.endswith(remote.filename) for url in remote.urls)
            assert len(remote.urls) >= (1 if name == "cifar10" else 2)
    assert dl.REMOTE_FILES["cifar10"][0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert dl.REMOTE_FILES["mnist"][0].urls[0].startswith("https://ossci-datasets.s3")


# --------------------------------------------------------------------------- via load


def serve_mnist(www: Path, base: str, monkeypatch) -> np.ndarray:
    """Put a tiny MNIST on the server and point REMOTE_FILES at it (first mirror broken)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 50).astype(np.uint8)
    arrays = [rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), labels,
              rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), labels[:20]]  # fmt: skip
    remotes = []
    for remote, array in zip(dl.REMOTE_FILES["mnist"], arrays):
        write_idx(www / remote.filename, array)
        urls = [base + "gone/" + remote.filename, base + remote.filename]
        remotes.append(remote_for(www / remote.filename, urls))
    monkeypatch.setitem(dl.REMOTE_FILES, "mnist", tuple(remotes))
    return labels


def test_load_downloads_once(server, tmp_path, monkeypatch):
    base, www, requests = server
    labels = serve_mnist(www, base, monkeypatch)
    ds = load("mnist", data_dir=tmp_path / "data")
    assert ds.n_train == 50 and ds.y_train.tolist() == labels.tolist()
    assert len(requests) == 8  # 4 files, first mirror 404 each time
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(
        r.filename for r in dl.REMOTE_FILES["mnist"]
    )
    load("mnist", data_dir=tmp_path / "data")
    assert len(requests) == 8  # present now: no network


def test_load_offline_message(tmp_path, monkeypatch):
    remotes = [dl.RemoteFile(r.filename, r.md5, r.size, (closed_port_url() + r.filename,))
               for r in dl.REMOTE_FILES["mnist"]]  # fmt: skip
    monkeypatch.setitem(dl.REMOTE_FILES, "mnist", tuple(remotes))
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", data_dir=tmp_path)
    message = str(info.value)
    assert "GLASSNET_DATA" in message and str(tmp_path / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "Download failed" in message
    assert "refused" in message.lower() or "errno" in message.lower()
    assert not any((tmp_path / "mnist").iterdir())


def test_load_cifar_downloads_and_extracts(server, tmp_path, monkeypatch):
    base, www, _ = server
    archive = www / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            blob = pickle.dumps({"data": np.zeros((4, 3072), np.uint8), "labels": [1, 2, 3, 4]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    monkeypatch.setitem(dl.REMOTE_FILES, "cifar10", (remote_for(archive, [base + archive.name]),))
    ds = load("cifar10", data_dir=tmp_path, normalize=False)
    assert ds.n_train == 20 and ds.n_test == 4
    assert (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()


# --------------------------------------------------------------------- safe extraction


def make_tar(path: Path, members):
    """members: (name, bytes) for files, (name, '->target') for symlinks."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content[2:]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))


@pytest.mark.parametrize(
    "members, message",
    [
        ([("ok/a", b"1"), ("../evil", b"x")], "unsafe path"),
        ([("ok/../../evil", b"x")], "unsafe path"),
        ([("/tmp/evil_glassnet_test", b"x")], "unsafe path"),
        ([("ok/link", "->/etc/passwd")], "not a plain file"),
    ],
)
def test_safe_extract_refuses_escapes(tmp_path, members, message):
    archive = tmp_path / "bad.tar.gz"
    make_tar(archive, members)
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        dl.safe_extract(archive, dest)
    assert not (tmp_path / "evil").exists() and list(dest.iterdir()) == []
    assert not Path("/tmp/evil_glassnet_test").exists()


def test_safe_extract_writes_and_replaces(tmp_path):
    archive = tmp_path / "good.tar.gz"
    make_tar(archive, [("top/a.txt", b"new a"), ("top/sub/b.txt", b"b")])
    dest = tmp_path / "out"
    (dest / "top").mkdir(parents=True)
    (dest / "top" / "stale.txt").write_text("old")
    created = dl.safe_extract(archive, dest)
    assert created == [dest / "top"]
    assert (dest / "top" / "a.txt").read_bytes() == b"new a"
    assert (dest / "top" / "sub" / "b.txt").read_bytes() == b"b"
    assert not (dest / "top" / "stale.txt").exists() and leftovers(dest) == []


def test_safe_extract_not_a_tar(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(gzip.compress(b"not a tar at all" * 40))
    with pytest.raises(ValueError, match="tar"):
        dl.safe_extract(tmp_path / "x.tar.gz", tmp_path / "out")


def _good_archive(tmp_path) -> Path:
    archive = tmp_path / "good.tar.gz"
    make_tar(archive, [("top/a.bin", bytes(range(256)) * 400)])
    return archive


def test_safe_extract_refuses_a_truncated_archive_and_moves_nothing(tmp_path):
    archive = _good_archive(tmp_path)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])  # an interrupted download
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match="truncated or corrupt.*download it again"):
        dl.safe_extract(archive, dest)
    assert list(dest.iterdir()) == []


def test_safe_extract_checks_gzips_crc(tmp_path):
    """A wrong CRC (gzip's trailer: CRC-32, then the size) is seen only at the stream's
    end, which tarfile never reads by itself."""
    archive = _good_archive(tmp_path)
    data = bytearray(archive.read_bytes())
    data[-8] ^= 0xFF
    archive.write_bytes(bytes(data))
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match="truncated or corrupt"):
        dl.safe_extract(archive, dest)
    assert list(dest.iterdir()) == []


def test_a_truncated_cifar_archive_is_listed_as_damaged_not_missing(tmp_path):
    from glassnet import data

    folder = tmp_path / "cifar10"
    folder.mkdir()
    archive = _good_archive(folder)
    data_ = archive.read_bytes()
    (folder / "cifar-10-binary.tar.gz").write_bytes(data_[: len(data_) // 2])
    archive.unlink()
    (info,) = [i for i in data.available(tmp_path) if i.name == "cifar10"]
    assert not info.present
    assert "cifar-10-binary.tar.gz: the archive is truncated or corrupt" in info.problem


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_the_datasets_own_folder_as_data_dir_is_named_not_downloaded_into(
    tmp_path, monkeypatch, name
):
    own = tmp_path / name
    own.mkdir()
    if name == "mnist":  # the four file names are enough to be recognised
        for stem in dl.IDX_STEMS:
            (own / f"{stem}.gz").write_bytes(b"")
    else:
        (own / "cifar-10-python.tar.gz").write_bytes(b"")

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr(dl, "download_file", no_download)
    locate = dl.locate_idx_files if name == "mnist" else dl.locate_cifar10
    with pytest.raises(dl.DatasetNotFoundError, match=f"but {own} holds them.*here {tmp_path}$"):
        locate(name, own / name) if name == "mnist" else locate(own / name)
    assert not (own / name).exists()
