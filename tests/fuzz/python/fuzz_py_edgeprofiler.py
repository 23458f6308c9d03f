"""Fuzz target: the EdgeProfiler raw-data import (edgepower.edgeprofiler.map_power_to_layers, both
modes): idling_power.json, trt_layer_latency.json, trt_engine_info.json (Python readers) and the
power log (native parser reached from Python). The input is the four files' bytes separated by
lines "@@@@" in that order; a missing part is an empty file, except that an input without any
separator leaves the engine info out (an optional file).

Documented outcome: a DataFrame (warnings allowed), or EdgeProfilerError (a ValueError) with a
message, or FileNotFoundError naming a missing file. Anything else is a finding."""
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

with harness.instrumented():
    from edgepower.edgeprofiler import EdgeProfilerError, map_power_to_layers

SEP = b"\n@@@@\n"
MODEL = "m"


def test_one(data: bytes) -> None:
    parts = data.split(SEP)
    raw = harness.scratch_dir()
    trt = os.path.join(raw, MODEL, "trt_profiling")
    os.makedirs(trt, exist_ok=True)
    names = [os.path.join(raw, "idling_power.json"), os.path.join(trt, "trt_layer_latency.json"),
             os.path.join(trt, "trt_engine_info.json"), os.path.join(raw, MODEL, f"{MODEL}_power_log.log")]
    for i, path in enumerate(names):
        if len(parts) == 1 and i == 2:
            if os.path.exists(path):
                os.remove(path)
            continue
        with open(path, "wb") as f:
            f.write(parts[i] if i < len(parts) else b"")
    for mode in ("compat", "corrected"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = map_power_to_layers(raw, MODEL, mode=mode)
        except EdgeProfilerError as exc:
            assert str(exc), "an EdgeProfilerError without a message"
            continue
        assert len(df.columns) > 0 and "diagnostics" in df.attrs


if __name__ == "__main__":
    harness.main(test_one, "py_edgeprofiler")
