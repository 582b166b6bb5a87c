"""Benchmark the ways of reading EDN into ``Op``s, step by step, in one process.

    .venv/bin/python benchmarks/bench_edn_paths.py --baseline /work/base [--ops 200000] [--repeat 7]

Why jepsy reads EDN with its own C reader (``jepsy._fastread.read_edn``) rather
than translating EDN into a format msgspec decodes: this sets, side by side,
the steps of the translation path as the baseline tree had it (its
``jepsy._edn_json``: EDN to JSON in C, msgspec decoding the JSON into ``Op``,
``locate`` giving the ops their ``Source``), msgspec decoding the same ops from
msgpack (the alternative to JSON for that path; the translation to msgpack
itself is not written, so that row is a lower bound of its cost), and the C
reader.  CPU seconds, best of ``--repeat``, the cyclic collector off as
``read_history`` has it.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_read import make_history

from jepsy import history as h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="a jepsy tree with the built jepsy/_edn_json*.so")
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    so = next(Path(args.baseline, "jepsy").glob("_edn_json*.so"))
    spec = importlib.util.spec_from_file_location("jepsy._edn_json", so)  # (its init function's name)
    assert spec and spec.loader
    old: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    c = h._c()
    assert c, "jepsy._fastread is not built"
    data = h.dumps_edn(make_history(args.ops)).encode()
    gc.disable()

    def best(fn: Callable[[], Any]) -> tuple[float, Any]:
        b, out = float("inf"), None
        for _ in range(args.repeat):
            t = time.process_time()
            out = fn()
            b = min(b, time.process_time() - t)
        return b, out

    source = h.Source("bench.edn", "form")
    t_json, js = best(lambda: old.edn_to_json(data))
    decoder = msgspec.json.Decoder(list[h.Op])
    t_dec, ops = best(lambda: decoder.decode(js))
    slots = [getattr(h.Op, name) for name in ("index", "f", "where")]  # the old locate's arguments
    t_loc, _ = best(lambda: old.locate(ops, source, *slots))
    packed = msgspec.msgpack.encode(msgspec.json.decode(js))
    mp_decoder = msgspec.msgpack.Decoder(list[h.Op])
    t_mp, _ = best(lambda: mp_decoder.decode(packed))
    t_c, ops_c = best(lambda: c.read_edn(data, h.Op, source, h._NO_EXTRA))
    assert ops_c == ops
    n = args.ops
    rows = [
        ("baseline: EDN to JSON in C", t_json),
        ("baseline: msgspec decodes the JSON into Op", t_dec),
        ("baseline: locate", t_loc),
        ("baseline path, total", t_json + t_dec + t_loc),
        ("msgspec decodes the same ops from msgpack", t_mp),
        ("jepsy._fastread.read_edn (this tree)", t_c),
    ]
    print(f"{n} ops of EDN ({len(data) / 2**20:.1f} MiB); CPU s, best of {args.repeat}")
    for name, t in rows:
        print(f"{name:48} {t:8.3f} s {t / n * 1e9:8.0f} ns/op")


if __name__ == "__main__":
    main()
