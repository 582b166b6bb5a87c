"""``jepsy serve``: browse the store in a web browser.

The index lists every stored run, newest first, coloured by verdict, with
links to its report, history, results, node logs and a zip of the whole run
directory.  A run without ``report.html`` gets one drawn on the fly (not
written).  Binds 127.0.0.1 unless told otherwise: the store holds node logs
and histories that should not be published by accident.

Only files inside the store are served: a path with ``..``, a backslash or a
NUL, or one that resolves (through symlinks) outside the store root, is
refused with 403.  Node logs and histories are untrusted text: they are served
as ``text/plain`` with ``nosniff``, so a log file cannot run script in the
browser; pages the server makes carry a Content-Security-Policy.

``StoreBrowser.respond(path)`` does the work without a socket (tests use it);
``serve_cmd`` wraps it in a threading HTTP server.
"""

from __future__ import annotations

import html
import io
import json
import mimetypes
import os
import zipfile
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import click

from jepsy.errors import ConfigError
from jepsy.report.summary import checker_results, headline, verdict_word

__all__ = ["Response", "StoreBrowser", "serve_cmd"]

_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_REPORT_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:"
_TEXT = {".jsonl", ".log", ".txt", ".edn", ".out", ".err", ".xml", ".yaml", ".yml", ".conf", ".toml"}
_STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#141a26;color:#fff;padding:12px 24px}h1{font-size:18px;margin:0}
main{padding:16px 24px}table{border-collapse:collapse;background:#fff;border:1px solid #d9dee7}
th,td{padding:6px 12px;border-bottom:1px solid #e3e7ee;text-align:left;vertical-align:top}
th{color:#667085;font-weight:500}a{color:#2f6fdb}td.h{max-width:560px;color:#475467}
.v{font-weight:700;border-radius:10px;padding:1px 9px;font-size:12.5px;white-space:nowrap}
.valid{background:#e3f4e6;color:#2e7d32}.invalid{background:#fde4e2;color:#c62828}
.unknown{background:#fdf0d5;color:#b7791f}tr.r-invalid{background:#fff7f6}
tr.r-invalid td:first-child{border-left:4px solid #c62828}
tr.r-valid td:first-child{border-left:4px solid #2e7d32}
tr.r-unknown{background:#fffbf2}tr.r-unknown td:first-child{border-left:4px solid #b7791f}
.links a{margin-right:10px;white-space:nowrap}.muted{color:#667085}"""


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _page(title: str, body: str) -> Response:
    text = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><header><h1>{html.escape(title)}</h1></header>"
            f"<main>{body}</main></body></html>")
    return Response(200, text.encode(), {"Content-Type": "text/html; charset=utf-8",
                                         "Content-Security-Policy": _PAGE_CSP})


def _error(status: HTTPStatus, why: str) -> Response:
    r = _page(f"{status.value} {status.phrase}", f"<p>{html.escape(why)}</p>")
    r.status = status.value
    return r


def _url(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


class StoreBrowser:
    """Answers GET requests for one store directory (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._cache: dict[Path, tuple[float, dict[str, Any]]] = {}

    # -- paths -------------------------------------------------------------------------------

    def safe_path(self, rel: str) -> Path | None:
        """The file or directory ``rel`` names inside the store, or None if it is outside."""
        rel = unquote(rel)
        if "\x00" in rel or "\\" in rel:
            return None
        parts = [p for p in rel.split("/") if p]
        if any(p in ("..", ".") for p in parts):
            return None
        real = self.root.joinpath(*parts).resolve()
        if real != self.root and self.root not in real.parents:
            return None
        return real

    def runs(self) -> list[tuple[str, str, Path]]:
        """(test, stamp, run dir) of every stored run, newest first."""
        out = []
        try:
            tests = [d for d in self.root.iterdir() if d.is_dir() and not d.is_symlink()]
        except OSError:
            return []
        for t in tests:
            try:
                for run in t.iterdir():
                    if run.is_dir() and not run.is_symlink() and run.name != "latest":
                        out.append((t.name, run.name, run))
            except OSError:
                continue
        out.sort(key=lambda r: (r[1], r[0]), reverse=True)
        return out

    def _results(self, run: Path) -> dict[str, Any]:
        p = run / "results.json"
        try:
            mtime = p.stat().st_mtime
            cached = self._cache.get(p)
            if cached and cached[0] == mtime:
                return cached[1]
            data = json.loads(p.read_text(encoding="utf-8"))
            data = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}
        self._cache[p] = (mtime, data)
        return data

    # -- pages -------------------------------------------------------------------------------

    def index(self) -> Response:
        rows = []
        for test, stamp, run in self.runs():
            res = self._results(run)
            valid = res.get("valid") if res else None
            cls = "valid" if valid is True else "invalid" if valid is False else "unknown"
            word = verdict_word(valid) if res else "no result"
            lines = [f"{n}: {headline(r)}" for n, r in checker_results(res.get("checker"))
                     if r.get("valid") is not True]
            if res.get("incomplete"):
                lines.insert(0, f"incomplete: {res['incomplete']}")
            stats = res.get("stats")
            count = stats.get("count", "") if isinstance(stats, dict) else ""
            links = [("report", _url("report", test, stamp))]
            for name, label in (("history.jsonl", "history"), ("results.json", "results"),
                                ("junit.xml", "junit"), ("jepsy.log", "log")):
                if (run / name).is_file():
                    links.append((label, _url("run", test, stamp, name)))
            if (run / "nodes").is_dir() and any((run / "nodes").iterdir()):
                links.append(("node logs", _url("run", test, stamp, "nodes") + "/"))
            links.append(("zip", _url("zip", test, stamp) + ".zip"))
            link_html = "".join(f'<a href="{html.escape(u)}">{html.escape(t)}</a>' for t, u in links)
            rows.append(
                f'<tr class="r-{cls}"><td>{html.escape(_when(stamp))}</td><td>{html.escape(test)}</td>'
                f'<td><span class="v {cls}">{html.escape(word)}</span></td>'
                f'<td class="num">{html.escape(str(count))}</td>'
                f'<td class="h">{"<br>".join(html.escape(x) for x in lines[:4])}</td>'
                f'<td class="links">{link_html}</td></tr>')
        if not rows:
            return _page("jepsy store", f"<p class=muted>No runs in {html.escape(str(self.root))} yet.</p>")
        table = ("<table><tr><th>when</th><th>test</th><th>verdict</th><th>ops</th><th>found</th>"
                 "<th>files</th></tr>" + "".join(rows) + "</table>")
        return _page("jepsy store", f"<p class=muted>{len(rows)} runs in {html.escape(str(self.root))}, "
                                    f"newest first.</p>{table}")

    def report(self, test: str, stamp: str) -> Response:
        run = self.safe_path(f"{test}/{stamp}")
        if run is None or not run.is_dir() or run.parent.parent != self.root:
            return _error(HTTPStatus.NOT_FOUND, "no such run")
        return Response(302, b"", {"Location": _url("run", test, stamp, "report.html")})

    def drawn_report(self, run: Path) -> Response:
        """A report drawn now, for a run that has none stored (it is not written)."""
        from jepsy.errors import HistoryError
        from jepsy.history import Op, read_history
        from jepsy.report.html import render_html

        problems = ["this report was drawn by 'jepsy serve'; 'jepsy report RUN_DIR' stores one"]
        history: list[Op] = []
        try:
            history = read_history(run / "history.jsonl")
        except HistoryError as e:
            problems.append(str(e))
        text = render_html(history, self._results(run), _json(run / "test.json"), run, problems=problems)
        return Response(200, text.encode(), {"Content-Type": "text/html; charset=utf-8",
                                             "Content-Security-Policy": _REPORT_CSP})

    def file(self, rel: str) -> Response:
        p = self.safe_path(rel)
        if p is None:
            return _error(HTTPStatus.FORBIDDEN, "outside the store")
        if p.is_dir():
            return self.listing(rel, p)
        inner = p.relative_to(self.root).parts
        if not p.is_file():
            if p.name == "report.html" and len(inner) == 3 and p.parent.is_dir():
                return self.drawn_report(p.parent)
            return _error(HTTPStatus.NOT_FOUND, "no such file")
        if p.name == "report.html" and len(inner) == 3:
            ctype, csp = "text/html; charset=utf-8", _REPORT_CSP
        elif p.suffix == ".json":
            ctype, csp = "application/json", _PAGE_CSP
        elif p.suffix in _TEXT or "nodes" in inner or p.suffix == ".html":
            ctype, csp = "text/plain; charset=utf-8", _PAGE_CSP
        else:
            guess = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
            ctype = "text/plain; charset=utf-8" if guess.startswith("text/") else "application/octet-stream"
            csp = _PAGE_CSP
        return Response(200, p.read_bytes(), {"Content-Type": ctype, "Content-Security-Policy": csp})

    def listing(self, rel: str, d: Path) -> Response:
        base = "/run/" + "/".join(quote(x, safe="") for x in d.relative_to(self.root).parts) + "/"
        items = []
        for child in sorted(d.iterdir()):
            name = child.name + ("/" if child.is_dir() else "")
            items.append(f'<li><a href="{html.escape(base + quote(name))}">{html.escape(name)}</a></li>')
        return _page(f"{d.relative_to(self.root)}", "<ul>" + "".join(items) + "</ul>")

    def zip(self, test: str, stamp: str) -> Response:
        run = self.safe_path(f"{test}/{stamp}")
        if run is None or not run.is_dir() or run.parent.parent != self.root:
            return _error(HTTPStatus.NOT_FOUND, "no such run")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for dirpath, _, files in os.walk(run):
                for name in files:
                    f = Path(dirpath) / name
                    real = f.resolve()
                    if real.is_file() and (self.root in real.parents):
                        z.write(real, f"{test}-{stamp}/{f.relative_to(run)}")
        return Response(200, buf.getvalue(), {
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{quote(test)}-{quote(stamp)}.zip"'})

    def respond(self, target: str) -> Response:
        """The response to ``GET target`` (a URL path, possibly with a query)."""
        path = urlsplit(target).path
        parts = path.split("/")[1:]
        try:
            if path in ("", "/"):
                return self.index()
            if parts[0] == "report" and len(parts) == 3:
                return self.report(unquote(parts[1]), unquote(parts[2]))
            if parts[0] == "zip" and len(parts) == 3 and parts[2].endswith(".zip"):
                return self.zip(unquote(parts[1]), unquote(parts[2])[:-4])
            if parts[0] == "run":
                return self.file("/".join(parts[1:]))
        except OSError as e:
            return _error(HTTPStatus.NOT_FOUND, f"cannot read: {e.strerror or e}")
        return _error(HTTPStatus.NOT_FOUND, "no such page")


def _json(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _when(stamp: str) -> str:
    s = stamp[:15]
    if len(s) == 15 and s[8] == "T" and s.replace("T", "").isdigit():
        return f"{s[:4]}-{s[4:6]}-{s[6:8]} {s[9:11]}:{s[11:13]}:{s[13:15]}" + stamp[15:]
    return stamp


def make_server(browser: StoreBrowser, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server answering with ``browser`` (not yet serving)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "jepsy-serve"

        def _send(self, head_only: bool) -> None:
            r = browser.respond(self.path)
            self.send_response(r.status)
            headers = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                       "Cache-Control": "no-store", **r.headers, "Content-Length": str(len(r.body))}
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if not head_only:
                self.wfile.write(r.body)

        def do_GET(self) -> None:
            self._send(False)

        def do_HEAD(self) -> None:
            self._send(True)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


@click.command("serve")
@click.option("--store", default="store", show_default=True, help="Store directory.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (anything but loopback publishes the store).")
@click.option("--port", default=8642, show_default=True, type=click.IntRange(0, 65535))
def serve_cmd(store: str, host: str, port: int) -> None:
    """Browse stored runs in a web browser: reports, histories, logs, zips."""
    root = Path(store)
    if not root.is_dir():
        raise ConfigError(f"{store}: no such store directory")
    try:
        server = make_server(StoreBrowser(root), host, port)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"jepsy: warning: serving {root} to the network on {host}", err=True)
    bound = server.server_address[1]
    click.echo(f"jepsy: serving {root.resolve()} at http://{'127.0.0.1' if host == '127.0.0.1' else host}:"
               f"{bound}/ (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
