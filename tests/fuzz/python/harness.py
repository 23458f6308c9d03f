"""Driver of the Python fuzz targets (tests/fuzz/python/fuzz_py_*.py).

With atheris installed (``pip install -r requirements/fuzz.txt``) a target runs under atheris:
libFuzzer's coverage-guided engine over the instrumented edgepower Python code. Without it the
fallback runs: a bounded-time random mutation fuzzer in plain Python (bit flips, interesting bytes
and tokens, chunk insert/delete/duplicate, splicing of seeds), no coverage guidance. Both stop
after the given number of seconds; an input whose exception is not one the target documents is
a finding: its traceback is printed, the input written to the artifacts folder, and the exit
status is 1.

Usage: python tests/fuzz/python/fuzz_py_<name>.py SECONDS OUT_CORPUS SEED_CORPUS [ARTIFACTS]
       python tests/fuzz/python/fuzz_py_<name>.py --replay FILE_OR_DIR ...   (run given inputs once)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import random
import sys
import tempfile
import time
import traceback
from typing import Callable, Iterator, List

try:
    import atheris  # type: ignore
except ImportError:  # the fallback below
    atheris = None

ENGINE = "atheris" if atheris is not None else "fallback"


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    """Wrap the imports of the code under test: atheris instruments them for coverage."""
    fuzzing = os.path.basename(sys.argv[0]).startswith("fuzz_py_") and "--replay" not in sys.argv \
        and "fuzz_py_replay" not in sys.argv[0]
    if atheris is not None and fuzzing:  # not when a test imports the target to replay inputs
        with atheris.instrument_imports(include=["edgepower"]):
            yield
    else:
        yield


_scratch = tempfile.mkdtemp(prefix="edgepower-fuzz-")


def scratch_file(name: str, data: bytes) -> str:
    """Writes ``data`` to a scratch file of this process and returns its path."""
    path = os.path.join(_scratch, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def scratch_dir() -> str:
    return _scratch


# ---- the fallback ---------------------------------------------------------------------------
TOKENS = [b",", b"\n", b"\r\n", b"#", b"# meta:", b"nan", b"-inf", b"inf", b"1e309", b"-0", b"0x10", b"1_0",
          b"99999999999999999999999", b"-9223372036854775809", b"9223372036854775808", b"2147483648",
          b"\x00", b"\xff\xfe", b"\xc3\x28", b"{", b"}", b"[", b"]", b'"', b":", b"null", b"true", b" ", b"\t",
          b"power_w:", b"counter_j:", b"t_ns,read_ns", b"# edgepower trace v1", b"20240101-00:00:00.000001",
          b"19991231-23:59:59.9", b"1e-320", b"1.7976931348623157e308"]


def _mutate(data: bytes, seeds: List[bytes], rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(8)
        pos = rng.randint(0, len(b))
        if op == 0 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.choice(b"\x00\xff,\n-.e9#:\"{}[] ")
        elif op == 2:
            b[pos:pos] = rng.choice(TOKENS)
        elif op == 3 and b:
            n = rng.randint(1, min(64, len(b)))
            del b[pos:pos + n]
        elif op == 4 and b:
            i = rng.randrange(len(b))
            n = rng.randint(1, min(256, len(b) - i))
            b[pos:pos] = b[i:i + n] * rng.randint(1, 4)
        elif op == 5 and seeds:
            other = rng.choice(seeds)
            j = rng.randint(0, len(other))
            b = b[:pos] + bytearray(other[j:j + rng.randint(1, 512)])
        elif op == 6 and b:
            i = rng.randrange(len(b))
            b[i:i + 1] = str(rng.choice([0, 1, -1, 255, 256, 65535, 2 ** 31, 2 ** 63, 10 ** 30])).encode()
        elif op == 7 and b:
            line_start = b.rfind(b"\n", 0, pos) + 1
            line_end = b.find(b"\n", pos)
            line_end = len(b) if line_end < 0 else line_end + 1
            b[line_end:line_end] = b[line_start:line_end]  # a duplicated line
    return bytes(b[:65536])


def _load(paths: List[str]) -> List[bytes]:
    out = []
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                with open(os.path.join(p, name), "rb") as f:
                    out.append(f.read())
        elif os.path.isfile(p):
            with open(p, "rb") as f:
                out.append(f.read())
    return out


def _fallback(fn: Callable[[bytes], None], seconds: float, out_corpus: str, seed_dirs: List[str],
              artifacts: str, name: str) -> int:
    seeds = _load([out_corpus] + seed_dirs) or [b""]
    rng = random.Random(int(os.environ.get("EDGEPOWER_FUZZ_SEED", "0")) or None)
    pool = list(seeds)
    runs, slowest, slowest_input = 0, 0.0, b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = rng.choice(pool) if runs % 4 else rng.choice(seeds)
        data = _mutate(data, seeds, rng)
        t0 = time.perf_counter()
        try:
            fn(data)
        except Exception:
            os.makedirs(artifacts, exist_ok=True)
            path = os.path.join(artifacts, f"{name}-crash-{hashlib.sha1(data).hexdigest()}")
            with open(path, "wb") as f:
                f.write(data)
            traceback.print_exc()
            print(f"== FINDING after {runs} runs: input written to {path}", flush=True)
            return 1
        dt = time.perf_counter() - t0
        if dt > slowest:
            slowest, slowest_input = dt, data
        runs += 1
        if rng.random() < 0.02:  # keep some mutants as new starting points (no coverage signal)
            pool.append(data)
            if len(pool) > 2000:
                pool.pop(rng.randrange(len(seeds), len(pool)))
    print(f"stat::number_of_executed_units: {runs}")
    print(f"stat::slowest_unit_s: {slowest:.3f} ({len(slowest_input)} bytes)")
    return 0


def main(fn: Callable[[bytes], None], name: str, coverage: bool = True) -> None:
    """Runs the fuzzer on ``fn``. ``coverage=False``: the code under test is native (its Python
    side is a few lines, so atheris sees one path and shrinks the corpus to a single byte): the
    mutation fallback from the seeds is used even with atheris installed; the native code has its
    coverage-guided libFuzzer target (fuzz_replay_trace)."""
    argv = sys.argv[1:]
    if argv and argv[0] == "--replay":
        inputs = _load(argv[1:])
        for data in inputs:
            fn(data)
        print(f"{name}: {len(inputs)} input(s) replayed without a finding")
        return
    if len(argv) < 3:
        sys.exit(__doc__)
    seconds, out_corpus, seed_dirs = float(argv[0]), argv[1], argv[2:3]
    artifacts = argv[3] if len(argv) > 3 else os.path.join(os.path.dirname(out_corpus), "artifacts")
    os.makedirs(out_corpus, exist_ok=True)
    engine = ENGINE if coverage else "fallback"
    print(f"{name}: engine {engine}, {seconds:g} s", flush=True)
    if engine == "fallback":
        sys.exit(_fallback(fn, seconds, out_corpus, seed_dirs, artifacts, name))
    os.makedirs(artifacts, exist_ok=True)
    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds)}", "-timeout=20", "-rss_limit_mb=4096",
                   "-max_len=65536", "-print_final_stats=1", f"-artifact_prefix={artifacts}/{name}-",
                   out_corpus] + seed_dirs, fn)
    atheris.Fuzz()
