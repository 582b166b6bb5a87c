"""Which build of a database runs: a binary, a build directory, a tarball, a .deb or a version.

Every built-in module runs, by default, the program Debian's package installs.
These options replace it with the user's own build (issue 12):

* ``binary=PATH``: one executable, or the directory of a build (searched for
  the module's program);
* ``tarball=PATH|URL``: an upstream release archive (any compression ``tar``
  reads), which must contain the program;
* ``package=PATH.deb``: a Debian package, unpacked with ``dpkg-deb -x`` into
  jepsy's own directory (never installed: the node's package database and
  ``/usr`` are left alone);
* ``version=X``: the module's upstream release archive for X, downloaded on
  the control machine from its URL template (``release_mirror=URL`` replaces
  the upstream base), checked against the checksum file the project publishes
  next to it, and cached (``$JEPSY_CACHE_DIR`` or ``~/.cache/jepsy/builds``) so
  that later runs upload from the cache.

``resolve`` checks all of it on the control machine before anything touches a
node (a missing file, an archive without the program, a checksum that does not
match: ``ConfigError``, exit 254).  ``install`` uploads the build to
``/opt/jepsy/<db>/<digest>/`` on a node, unpacks it once, and runs the
module's version command with it: a program that does not run there is a
``DBError`` (exit 254) quoting its error.  The module then starts that path,
and reads its version from it, so ``test.json`` says what really ran.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jepsy.control import sh
from jepsy.dbs.existing import EXISTING_OPTIONS
from jepsy.errors import ConfigError, DBError
from jepsy.options import Option, boolean
from jepsy.protocols import Test

__all__ = ["BUILD_OPTIONS", "DEPLOY_OPTIONS", "Build", "BuildSpec", "RemoteBuild", "cache_dir",
           "install", "refuse", "resolve"]

# The options of every module that takes a build (and ``existing``/``cleanup``, see
# ``jepsy.dbs.existing``): each factory's ``@declare(...)`` includes ``*DEPLOY_OPTIONS``.
BUILD_OPTIONS: tuple[Option, ...] = (
    Option("binary", None, "run this executable, or the program in this build directory, "
                           "instead of Debian's package"),
    Option("tarball", None, "run the program from this release archive (a path or an http(s) URL)"),
    Option("package", None, "run the program from this .deb (unpacked under /opt/jepsy, "
                            "not installed)"),
    Option("version", None, "download this upstream release (checksum verified, cached on the "
                            "control machine)"),
    Option("release_mirror", None, "base URL to download version= releases from, instead of "
                                   "upstream's"),
)
KINDS = ("binary", "tarball", "package", "version")
REMOTE_ROOT = "/opt/jepsy"


@dataclass(frozen=True)
class BuildSpec:
    """What a module needs to know to run a build it was given.

    ``program`` is the executable's file name (``etcd``, ``redis-server``);
    ``version_command`` a shell command with ``{program}`` in it that prints the
    version (its first line is recorded).  ``release_url`` and ``checksum_url``
    are templates with ``{mirror}`` and ``{version}`` for ``version=`` (empty:
    the module has no binary releases); ``mirror`` is upstream's base URL.
    ``kinds`` are the options this module honours.
    """

    db: str
    program: str
    version_command: str
    kinds: tuple[str, ...] = KINDS
    mirror: str = ""
    release_url: str = ""
    checksum_url: str = ""


@dataclass(frozen=True)
class Build:
    """A build checked on the control machine: ``archive`` is the one local file to
    upload, ``unpack`` how it becomes a tree on the node (``copy``: one executable,
    installed under the module's program name, since some programs look at their
    own name; ``tar``; ``deb``: ``dpkg-deb -x``), ``program`` the program's path
    in that tree."""

    kind: str
    source: str
    archive: Path
    program: str
    digest: str
    unpack: str = "tar"


@dataclass(frozen=True)
class RemoteBuild:
    """Where a build is on a node: its directory and the program to run."""

    directory: str
    program: str


def cache_dir() -> Path:
    """The control machine's build cache (``$JEPSY_CACHE_DIR`` wins)."""
    env = os.environ.get("JEPSY_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jepsy" / "builds"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, dest: Path, what: str) -> None:
    """Download ``url`` to ``dest`` (atomically); ``ConfigError`` naming ``what`` if it fails."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as got, tmp.open("wb") as out:
            shutil.copyfileobj(got, out)
    except (urllib.error.URLError, OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise ConfigError(f"{what}: cannot download {url} ({reason})") from None
    tmp.replace(dest)


def _tar_program(archive: Path, program: str, what: str) -> str:
    """The regular file named ``program`` in the tar ``archive`` that is most likely the
    program: executable first, then in a ``bin`` or ``sbin`` directory, then the
    shallowest (a ``.deb`` also holds ``etc/default/etcd``); ``what`` is the option that
    named it, for errors."""
    try:
        with tarfile.open(archive) as tar:
            found = [m for m in tar.getmembers()
                     if m.isfile() and PurePosixPath(m.name).name == program]
    except (tarfile.TarError, OSError) as e:
        raise ConfigError(f"{what}: not a tar archive ({e})") from None
    if not found:
        raise ConfigError(f"{what}: the archive has no {program!r}")

    def rank(m: tarfile.TarInfo) -> tuple[bool, bool, int, str]:
        parent = PurePosixPath(m.name).parent.name
        return (not m.mode & 0o111, parent not in ("bin", "sbin"), m.name.count("/"), m.name)

    return min(found, key=rank).name.removeprefix("./")


def _deb_program(deb: Path, program: str) -> str:
    if not shutil.which("dpkg-deb"):
        raise ConfigError("package=: dpkg-deb is needed on the control machine to read a .deb")
    got = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True)
    if got.returncode != 0:
        raise ConfigError(f"package={deb}: not a Debian package "
                          f"({got.stderr.decode(errors='replace').strip()[:200]})")
    with tempfile.NamedTemporaryFile(suffix=".tar") as tmp:
        tmp.write(got.stdout)
        tmp.flush()
        return _tar_program(Path(tmp.name), program, f"package={deb}")


def _checksum(sums: str, name: str) -> str:
    """The hex digest for ``name`` in a checksum file: ``HEX  name`` lines (``sha256sum``),
    one bare HEX, or ``name: HEX HEX ...`` (``gpg --print-md``, older Apache releases)."""
    if f"{name}:" in sums:
        hexes = re.sub(r"\s+", "", sums.split(f"{name}:", 1)[1]).lower()
        if re.fullmatch(r"[0-9a-f]{64}|[0-9a-f]{128}", hexes):
            return hexes
    for line in sums.splitlines():
        words = line.split()
        if len(words) >= 2 and words[-1].lstrip("*").rsplit("/", 1)[-1] == name:
            return words[0].lower()
    words = sums.split()
    if len(words) == 1 or (len(words) == 2 and words[1].lstrip("*") == name):
        return words[0].lower()
    raise ValueError(f"no checksum for {name}")


def _verify(archive: Path, expected: str, what: str) -> None:
    algo = {64: "sha256", 128: "sha512"}.get(len(expected))
    if algo is None or not re.fullmatch(r"[0-9a-f]+", expected):
        raise ConfigError(f"{what}: the checksum file does not hold a SHA-256 or SHA-512 digest")
    h = hashlib.new(algo)
    with archive.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != expected:
        raise ConfigError(f"{what}: {archive.name} does not match its published {algo} checksum "
                          f"(got {h.hexdigest()[:16]}..., expected {expected[:16]}...)")


def _release(spec: BuildSpec, version: str, mirror: str | None) -> Path:
    """The verified release archive for ``version``, from the cache or downloaded into it."""
    what = f"version={version}"
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+_-]*", version):
        raise ConfigError(f"{what}: not a version number")
    fields = {"mirror": (mirror or spec.mirror).rstrip("/"), "version": version}
    url = spec.release_url.format(**fields)
    sums_url = spec.checksum_url.format(**fields)
    name = url.rsplit("/", 1)[-1]
    dest = cache_dir() / spec.db / version / name
    if dest.exists():
        return dest  # verified when it was stored (a verified file is renamed into place)
    sums_path = dest.with_name(dest.name + ".sums")
    _fetch(sums_url, sums_path, what)
    try:
        expected = _checksum(sums_path.read_text(errors="replace"), name)
    except ValueError:
        raise ConfigError(f"{what}: {sums_url} has no checksum for {name}") from None
    unverified = dest.with_name(dest.name + ".unverified")
    _fetch(url, unverified, what)
    try:
        _verify(unverified, expected, what)
    except ConfigError:
        unverified.unlink(missing_ok=True)
        raise
    unverified.replace(dest)
    return dest


def _pack_dir(directory: Path, program: str) -> tuple[Path, str]:
    """A tar of a build directory (in the cache) and the program's path inside it."""
    found = sorted((p for p in directory.rglob(program) if p.is_file() and os.access(p, os.X_OK)),
                   key=lambda p: (len(p.parts), str(p)))
    if not found:
        raise ConfigError(f"binary={directory}: no executable {program!r} in that directory")
    # One pack per directory, replaced at every run (the cache does not grow with runs).
    key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    out = cache_dir() / "packed" / f"{directory.name}-{key}.tar.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        tar.add(directory, arcname=".")
    return out, found[0].relative_to(directory).as_posix()


def _flag(opts: Mapping[str, Any], key: str) -> bool:
    return boolean(opts.get(key, False))


def resolve(spec: BuildSpec, opts: Mapping[str, Any]) -> Build | None:
    """The build ``opts`` name, checked locally; ``None`` for Debian's package (the default).

    ``ConfigError`` (one line, exit 254) for: two of binary/tarball/package/version,
    any of them with ``existing=true``, an option this module cannot honour, a
    missing file, an archive without the program, a download or checksum failure.
    """
    given = [k for k in KINDS if opts.get(k) not in (None, "")]
    if not given:
        return None
    if _flag(opts, "existing"):
        raise ConfigError(f"{spec.db}: existing=true tests the deployment as it runs; "
                          f"{given[0]}= would replace it (drop one of them)")
    if len(given) > 1:
        raise ConfigError(f"{spec.db}: give one of {', '.join(k + '=' for k in KINDS)}; got "
                          f"{', '.join(k + '=' for k in given)}")
    kind = given[0]
    value = str(opts[kind])
    if kind not in spec.kinds:
        honoured = ", ".join(k + "=" for k in spec.kinds) or "none of them"
        raise ConfigError(f"{spec.db}: cannot honour {kind}= (it takes {honoured})")
    if kind == "version":
        archive = _release(spec, value, opts.get("release_mirror"))
        return Build(kind, value, archive, _tar_program(archive, spec.program, f"version={value}"),
                     _sha256(archive))
    if kind == "tarball" and re.match(r"https?://", value):
        local = cache_dir() / spec.db / "url" / hashlib.sha256(value.encode()).hexdigest()[:16] / (
            value.rsplit("/", 1)[-1] or "archive")
        if not local.exists():
            _fetch(value, local, f"tarball={value}")
        program = _tar_program(local, spec.program, f"tarball={value}")
        return Build(kind, value, local, program, _sha256(local))
    path = Path(value).expanduser()
    if not path.exists():
        raise ConfigError(f"{kind}={value}: no such file or directory")
    if kind == "binary":
        if path.is_dir():
            packed, program = _pack_dir(path, spec.program)
            return Build(kind, value, packed, program, _sha256(packed))
        if not os.access(path, os.X_OK):
            raise ConfigError(f"binary={value}: not executable (chmod +x it)")
        return Build(kind, value, path, spec.program, _sha256(path), unpack="copy")
    if kind == "tarball":
        return Build(kind, value, path, _tar_program(path, spec.program, f"tarball={value}"), _sha256(path))
    return Build(kind, value, path, _deb_program(path, spec.program), _sha256(path), unpack="deb")


def refuse(db: str, opts: Mapping[str, Any], existing: bool = False) -> None:
    """For a module that runs only Debian's build (and, unless ``existing``, cannot test
    an existing deployment): ``ConfigError`` in one line if the options ask for more."""
    given = [k for k in KINDS if opts.get(k) not in (None, "")]
    if given:
        raise ConfigError(f"{db}: cannot honour {given[0]}= (this module runs Debian's package "
                          "only; see the README's build options table)")
    if not existing and _flag(opts, "existing"):
        raise ConfigError(f"{db}: cannot honour existing=true (not supported by this module yet; "
                          "see the README's build options table)")


def install(test: Test, node: str, spec: BuildSpec, build: Build) -> RemoteBuild:
    """Upload and unpack ``build`` on ``node`` (once: a finished directory is reused) and
    check the program runs there; ``DBError`` quoting its error if it does not."""
    r = test.remote
    directory = f"{REMOTE_ROOT}/{spec.db}/{build.digest[:16]}"
    program = f"{directory}/{build.program}"
    if not r.execute(node, f"[ -f {directory}/.jepsy-complete ]", sudo=True, check=False).ok:
        staged = f"/tmp/jepsy-build-{build.digest[:16]}-{build.archive.name}"
        r.upload(node, str(build.archive), staged)
        unpack = {
            "copy": f"cp {sh(staged)} {sh(program)} && chmod 755 {sh(program)}",
            "tar": f"tar -xf {sh(staged)} -C {directory}",
            "deb": f"dpkg-deb -x {sh(staged)} {directory}",
        }[build.unpack]
        got = r.execute(node, f"rm -rf {directory} && mkdir -p {directory} && {unpack} && "
                              f"touch {directory}/.jepsy-complete; rc=$?; rm -f {sh(staged)}; exit $rc",
                        sudo=True, timeout=300, check=False)
        if not got.ok:
            raise DBError(f"{node}: cannot unpack {build.kind}={build.source} into {directory}: "
                          f"{(got.stderr or got.stdout).strip()[-300:]}")
    ran = r.execute(node, spec.version_command.format(program=sh(program)), check=False, timeout=30)
    if not ran.ok or not ran.stdout.strip():
        err = (ran.stderr or ran.stdout).strip().splitlines()
        raise DBError(f"{node}: {build.kind}={build.source} does not run there "
                      f"({err[-1][:300] if err else f'{program}: exit {ran.exit_code}'})")
    return RemoteBuild(directory, program)


DEPLOY_OPTIONS: tuple[Option, ...] = BUILD_OPTIONS + EXISTING_OPTIONS
