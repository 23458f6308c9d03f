"""Accuracy figures: the layer profiler against emulated sensors with ground truth.

Same as ``edgepower accuracy --full --json benchmarks/results/accuracy.json``: every setting
(INA3221 default and Jetson N=512, NVML-like counter and 25/100 ms instant power, with and
without phase shifts), layers from 50 us to 1 s, 3 rounds. Several minutes; see docs/accuracy.md.
"""
import os
import sys

from edgepower.cli import main

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "accuracy.json")
    sys.exit(main(["accuracy", "--full", "--json", out] + sys.argv[1:]))
