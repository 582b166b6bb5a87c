"""The store browser: listing, files, zips, and no way out of the store."""

from __future__ import annotations

import io
import json
import os
import threading
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from jepsy.report.samples import write_sample_run
from jepsy.report.serve import StoreBrowser, make_server


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    write_sample_run(root / "reg" / "20260101T000000", n_ops=60)
    hostile = root / "reg" / "20260102T000000"
    write_sample_run(hostile, n_ops=60, hostile=True)
    (root / "other" / "20251231T235959").mkdir(parents=True)
    ((root / "other" / "20251231T235959") / "results.json").write_text(
        json.dumps({"valid": True, "test": "other", "checker": {"valid": True}}))
    os.symlink("20260102T000000", root / "reg" / "latest")
    secret = tmp_path_factory.mktemp("outside") / "secret.txt"
    secret.write_text("do not serve")
    os.symlink(secret, root / "reg" / "20260101T000000" / "escape.txt")
    os.symlink(secret.parent, root / "reg" / "20260101T000000" / "nodes" / "n9")
    return root


@pytest.mark.parametrize("target", [
    "/run/../outside/secret.txt", "/run/%2e%2e/%2e%2e/etc/passwd", "/run/reg/..%2f..%2fetc/passwd",
    "/run/reg/20260101T000000/escape.txt", "/run/reg/20260101T000000/nodes/n9/secret.txt",
    "/run/reg/20260101T000000/nodes/n9/", "/run/reg%5c..%5c..%5cetc", "/run/reg/%00",
])
def test_paths_outside_the_store_are_refused(store: Path, target: str) -> None:
    r = StoreBrowser(store).respond(target)
    assert r.status == 403, target
    assert b"do not serve" not in r.body


def test_index_lists_runs_newest_first_with_verdicts(store: Path) -> None:
    r = StoreBrowser(store).respond("/")
    page = r.body.decode()
    assert r.status == 200 and r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    order = [page.index(s) for s in ("2026-01-02 00:00:00", "2026-01-01 00:00:00", "2025-12-31 23:59:59")]
    assert order == sorted(order)
    assert 'class="r-invalid"' in page and 'class="r-valid"' in page
    assert "/zip/reg/20260101T000000.zip" in page and "/report/reg/20260102T000000" in page
    assert "/run/reg/20260101T000000/nodes/" in page and "/run/reg/20260101T000000/history.jsonl" in page
    # The hostile run's headline is escaped text.
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "latest" not in page


def test_report_redirects_to_the_stored_file(store: Path) -> None:
    b = StoreBrowser(store)
    r = b.respond("/report/reg/20260101T000000")
    assert r.status == 302 and r.headers["Location"] == "/run/reg/20260101T000000/report.html"
    assert b.respond("/report/nope/x").status == 404


def test_a_run_without_report_gets_one_drawn(store: Path) -> None:
    r = StoreBrowser(store).respond("/run/reg/20260101T000000/report.html")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    assert b"drawn by 'jepsy serve'" in r.body and b'id="jepsy-data"' in r.body
    assert "script-src 'unsafe-inline'" in r.headers["Content-Security-Policy"]
    assert not (store / "reg" / "20260101T000000" / "report.html").exists()


def test_logs_and_histories_are_plain_text(store: Path) -> None:
    b = StoreBrowser(store)
    log = b.respond("/run/reg/20260101T000000/nodes/n1/db.log")
    assert log.status == 200 and log.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert b"<script>not markup</script>" in log.body
    hist = b.respond("/run/reg/20260101T000000/history.jsonl")
    assert hist.headers["Content-Type"].startswith("text/plain") and hist.body.startswith(b'{"index": 0')
    listing = b.respond("/run/reg/20260101T000000/nodes/")
    assert listing.status == 200 and b'href="/run/reg/20260101T000000/nodes/n1/"' in listing.body
    assert b.respond("/run/reg/20260101T000000/missing.txt").status == 404


def test_zip_holds_the_run_directory(store: Path) -> None:
    r = StoreBrowser(store).respond("/zip/reg/20260101T000000.zip")
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.body)).namelist()
    assert "reg-20260101T000000/history.jsonl" in names
    assert "reg-20260101T000000/nodes/n1/db.log" in names
    assert not any("secret" in n or "escape" in n for n in names)
    assert StoreBrowser(store).respond("/zip/reg.zip/x").status == 404


def test_server_binds_loopback_and_answers(store: Path) -> None:
    server = make_server(StoreBrowser(store), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as resp:
            assert resp.status == 200 and resp.headers["X-Content-Type-Options"] == "nosniff"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/run/reg/20260101T000000/escape.txt")
        assert err.value.code == 403
    finally:
        server.shutdown()
        server.server_close()
