"""Bad command-line input, table-driven: every row exits with 2, prints `error: ...` naming the
argument, never a traceback, and fails before any work (no model built, no sampling)."""
import os
import subprocess
import sys
import threading

import pytest

from edgepower import cli
from edgepower.cli import models

from conftest import subprocess_env

torch = pytest.importorskip("torch")

S = ["--sensor", "constant:5"]
NO_CUDA = not torch.cuda.is_available()

# (id, argv, text the error must contain). {file}, {dir}, {missing} are filled per test.
PROFILE = [
    ("rate-0", ["profile", "vgg11", "--rate", "0"] + S, "--rate"),
    ("rate-nan", ["profile", "vgg11", "--rate", "nan"] + S, "--rate"),
    ("rate-too-high", ["profile", "vgg11", "--rate", "50000"] + S, "--rate"),
    ("layers-unknown", ["profile", "vgg11", "--layers", "nope"] + S, "--layers: VGG has no module named 'nope'"),
    ("layers-unknown-distilbert", ["profile", "distilbert", "--layers", "features.0"] + S, "--layers"),
    ("layers-empty", ["profile", "vgg11", "--layers", ","] + S, "--layers"),
    ("layers-preset-of-other-model", ["profile", "vgg11", "--layers", "distilbert"] + S, "--layers"),
    ("depth-0", ["profile", "vgg11", "--depth", "0"] + S, "--depth"),
    ("layers-and-depth", ["profile", "vgg11", "--layers", "features.0", "--depth", "2"] + S, "--layers and --depth"),
    ("batch-0", ["profile", "vgg11", "--batch-size", "0"] + S, "--batch-size"),
    ("rounds-0", ["profile", "vgg11", "--rounds", "0"] + S, "--rounds"),
    ("ci-target-negative", ["profile", "vgg11", "--ci-target", "-5"] + S, "--ci-target must be a number >= 0"),
    ("ci-target-nan", ["profile", "vgg11", "--ci-target", "nan"] + S, "--ci-target"),
    ("max-rounds-below-rounds", ["profile", "vgg11", "--rounds", "4", "--max-rounds", "3"] + S,
     "--max-rounds must be an integer >= 4"),
    ("min-window-negative", ["profile", "vgg11", "--min-window", "-1"] + S, "--min-window"),
    ("min-window-inf", ["profile", "vgg11", "--min-window", "inf"] + S, "--min-window"),
    ("warmup-negative", ["profile", "vgg11", "--warmup", "-1"] + S, "--warmup"),
    ("idle-nan", ["profile", "vgg11", "--idle", "nan"] + S, "--idle"),
    ("idle-power-negative", ["profile", "vgg11", "--idle-power", "-3"] + S, "--idle-power"),
    ("max-round-0", ["profile", "vgg11", "--max-round", "0"] + S, "--max-round"),
    ("cache-context-unknown", ["profile", "vgg11", "--cache-context", "hot"] + S, "--cache-context"),
    ("allocator-unknown", ["profile", "vgg11", "--allocator", "jemalloc"] + S, "--allocator"),
    ("seed-huge", ["profile", "vgg11", "--seed", str(10 ** 30)] + S, "--seed"),
    ("image-size-small", ["profile", "vgg11", "--image-size", "16"] + S, "--image-size"),
    ("seq-len-long", ["profile", "distilbert", "--seq-len", "600"] + S, "--seq-len"),
    ("device-unknown", ["profile", "vgg11", "--device", "gpu"] + S, "--device"),
    ("dtype-unknown", ["profile", "vgg11", "--dtype", "int4"] + S, "--dtype"),
    ("repeats-0", ["profile", "vgg11", "--repeats", "0"] + S, "--repeats"),
    ("sensor-seed-huge", ["profile", "vgg11", "--sensor", "constant:5,seed=1e30"], "--sensor 'constant:5,seed=1e30'"),
    ("sensor-unknown", ["profile", "vgg11", "--sensor", "nosuch"], "--sensor 'nosuch'"),
    ("output-is-a-file", ["profile", "vgg11", "-o", "{file}"] + S, "--output"),
    ("trace-is-a-folder", ["profile", "vgg11", "--trace", "{dir}"] + S, "--trace"),
    ("trace-folder-missing", ["profile", "vgg11", "--trace", "{missing}/t.json"] + S, "--trace"),
    ("edgeprofiler-out-is-a-file", ["profile", "vgg11", "--edgeprofiler-out", "{file}"] + S, "--edgeprofiler-out"),
    ("model-unknown", ["profile", "resnet9000"] + S, "MODEL"),
    ("model-bad-factory", ["profile", "no such:thing"] + S, "MODEL"),
    ("model-module-missing", ["profile", "edgepower_no_such_module:make"] + S, "MODEL"),
]
if NO_CUDA:
    PROFILE.append(("device-cuda-absent", ["profile", "vgg11", "--device", "cuda"] + S, "--device cuda"))

MONITOR = [
    ("output-is-a-folder", ["monitor", "-o", "{dir}", "--duration", "0.1"] + S, "-o/--output"),
    ("output-folder-missing", ["monitor", "-o", "{missing}/t.csv", "--duration", "0.1"] + S, "-o/--output"),
    ("sensor-seed-huge", ["monitor", "--sensor", "constant:5,seed=1e30", "--duration", "0.1"], "seed"),
    ("sensor-seed-nan", ["monitor", "--sensor", "constant:5,seed=nan", "--duration", "0.1"], "--sensor"),
    ("rate-0", ["monitor", "--rate", "0", "--duration", "0.1"] + S, "--rate"),
    ("duration-0", ["monitor", "--duration", "0"] + S, "--duration"),
    ("duration-inf", ["monitor", "--duration", "inf"] + S, "--duration"),
    ("json-is-a-folder", ["monitor", "--json", "{dir}", "--duration", "0.1"] + S, "--json"),
    ("prometheus-address", ["monitor", "--prometheus", "nope", "--duration", "0.1"] + S, "--prometheus"),
    ("nothing-after-dashes", ["monitor"] + S + ["--"], "after --"),
    ("duration-and-command", ["monitor", "--duration", "1"] + S + ["--", "true"], "--duration and a command"),
    ("command-not-found", ["monitor"] + S + ["--", "edgepower-no-such-program", "-x"], "edgepower-no-such-program"),
]

OTHERS = [
    ("sensors-json-is-a-folder", ["sensors", "--json", "{dir}"], "--json"),
    ("compare-missing", ["compare", "{missing}/a.json", "{missing}/b.json"], "does not exist"),
    ("compare-output-is-a-folder", ["compare", "{file}", "{file}", "-o", "{dir}"], "-o/--output"),
    ("profile-trace-missing", ["profile-trace", "{missing}/t.csv"], "t.csv"),
    ("profile-trace-idle-power", ["profile-trace", "{file}", "--idle-power", "-1"], "--idle-power"),
    ("profile-trace-output-is-a-file", ["profile-trace", "{file}", "-o", "{file}"], "--output"),
    ("edgeprofiler-map-missing", ["edgeprofiler", "map", "{missing}", "--model", "m", "-o", "{dir}/o.csv"],
     "does not exist"),
    ("edgeprofiler-map-output-is-a-folder", ["edgeprofiler", "map", "{dir}", "--model", "m", "-o", "{dir}"],
     "-o/--output"),
    ("accuracy-rounds-1", ["accuracy", "--rounds", "1"], "--rounds"),
    ("accuracy-rate-0", ["accuracy", "--rate", "0"], "--rate"),
    ("accuracy-settings", ["accuracy", "--settings", "nope"], "--settings"),
    ("accuracy-json-is-a-folder", ["accuracy", "--json", "{dir}"], "--json"),
    ("predictor-fit-missing", ["predictor", "fit", "{missing}/r.json", "-o", "{dir}/p.json"], "r.json"),
    ("predictor-fit-output-is-a-folder", ["predictor", "fit", "{file}", "-o", "{dir}"], "-o/--output"),
    ("predictor-measure-rounds", ["predictor", "measure", "-o", "{dir}", "--rounds", "0"], "--rounds"),
    ("predictor-measure-threads", ["predictor", "measure", "-o", "{dir}", "--threads", "0"], "--threads"),
    ("predict-missing-predictor", ["predict", "vgg11", "--predictor", "{missing}/p.json"], "p.json"),
    ("predict-batch-0", ["predict", "vgg11", "--predictor", "{file}", "--batch-size", "0"], "--batch-size"),
    ("predict-output-is-a-folder", ["predict", "vgg11", "--predictor", "{file}", "-o", "{dir}"], "-o/--output"),
    ("no-command", [], "COMMAND"),
    ("unknown-command", ["frobnicate"], "frobnicate"),
    ("unknown-option", ["monitor", "--bogus", "5"], "--bogus"),
]

TABLE = [pytest.param(*row[1:], id=f"profile-{row[0]}") for row in PROFILE] + \
        [pytest.param(*row[1:], id=f"monitor-{row[0]}") for row in MONITOR] + \
        [pytest.param(*row[1:], id=row[0]) for row in OTHERS]


@pytest.fixture
def paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a command that did run would write its default outputs here
    f = tmp_path / "a-file.txt"
    f.write_text("not what was expected\n")
    d = tmp_path / "a-folder"
    d.mkdir()
    return {"file": str(f), "dir": str(d), "missing": str(tmp_path / "missing")}


def fill(argv, paths):
    return [a.format(**paths) for a in argv]


@pytest.fixture
def spies(monkeypatch):
    """Records calls of the functions that do work: building the model, starting a sampler."""
    calls = []
    real_build = models.build_model

    def build_model(*a, **k):
        calls.append("build_model")
        return real_build(*a, **k)

    monkeypatch.setattr(models, "build_model", build_model)
    from edgepower import monitor as monitor_mod

    real_start = monitor_mod.PowerMonitor.start

    def start(self):
        calls.append("PowerMonitor.start")
        return real_start(self)

    monkeypatch.setattr(monitor_mod.PowerMonitor, "start", start)
    return calls


def run_main(argv, capsys):
    """(exit code, stdout, stderr) of edgepower.cli.main in this process; argparse's own errors
    exit through SystemExit."""
    try:
        rc = cli.main(argv)
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv, needle", TABLE)
def test_bad_input_exits_2_naming_the_argument_before_any_work(argv, needle, paths, spies, capsys):
    threads = threading.active_count()
    rc, out, err = run_main(fill(argv, paths), capsys)
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in out + err
    assert needle.format(**paths) in err, err
    assert err.strip().splitlines()[-1].startswith(("error:", "edgepower")), err
    assert spies == [], f"work was done before the argument was checked: {spies}"
    assert threading.active_count() == threads  # no sampler or log thread left behind


def test_the_table_covers_every_subcommand():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    covered = {argv[0] for _, argv, _ in PROFILE + MONITOR + OTHERS if argv}
    assert set(sub.choices) <= covered, set(sub.choices) - covered


def test_layers_are_checked_on_a_skeleton_not_the_model(spies, capsys):
    """A wrong --layers on a built-in model fails before the model is built: the module tree is
    built on the meta device (no weights), and the real builder is never called."""
    rc, _, err = run_main(["profile", "vgg11", "--layers", "features.0,classifier.9"] + S, capsys)
    assert rc == 2 and "classifier.9" in err and "Close matches" in err
    assert spies == []


def test_a_factorys_layers_are_checked_before_sampling(tmp_path, monkeypatch, spies, capsys):
    (tmp_path / "tiny_factory_mod.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()), torch.randn(1, 4)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    rc, _, err = run_main(["profile", "tiny_factory_mod:make", "--layers", "2"] + S, capsys)
    assert rc == 2 and "--layers: Sequential has no module named '2'" in err, err
    assert spies == ["build_model"]  # the factory ran (its modules are known only then), no sampling


def _subprocess(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=subprocess_env())


def test_bad_rate_fails_before_torchvision_is_imported():
    r = _subprocess("import sys\nfrom edgepower.cli import main\n"
                    "rc = main(['profile', 'vgg11', '--rate', '0', '--sensor', 'constant:5'])\n"
                    "print('RC', rc, 'torchvision' in sys.modules, 'transformers' in sys.modules)\n")
    assert "RC 2 False False" in r.stdout, (r.stdout, r.stderr)
    assert "--rate" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, needle", [
    (["monitor", "-o", "{dir}", "--sensor", "constant:5", "--duration", "0.1"], "-o/--output"),
    (["monitor", "--sensor", "constant:5,seed=1e30", "--duration", "0.1"], "seed"),
    (["profile", "vgg11", "--layers", "nope", "--sensor", "constant:5"], "--layers"),
    (["sensors", "--json", "{dir}"], "--json"),
], ids=["monitor-output-folder", "monitor-sensor-seed", "profile-layers", "sensors-json-folder"])
def test_bad_input_in_a_real_process(args, needle, paths):
    r = subprocess.run([sys.executable, "-m", "edgepower"] + fill(args, paths), capture_output=True, text=True,
                       timeout=300, env=subprocess_env())
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    assert needle.format(**paths) in r.stderr


def test_a_model_that_raises_is_reported_as_its_own_error(tmp_path, monkeypatch, capsys):
    """Not 'rejected the inputs': the model's exception type and message and the layer it came from."""
    (tmp_path / "broken_factory_mod.py").write_text(
        "import torch\n"
        "class Broken(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(4, 4)\n"
        "        self.head = Head()\n"
        "    def forward(self, x):\n"
        "        return self.head(self.fc(x))\n"
        "class Head(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        raise KeyError('vocab entry 17 missing')\n"
        "def make():\n"
        "    return Broken(), torch.randn(1, 4)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    rc, _, err = run_main(["profile", "broken_factory_mod:make", "--sensor", "constant:5", "--idle", "0",
                           "--no-progress", "-o", str(tmp_path / "out")], capsys)
    assert rc == 2 and "Traceback" not in err
    assert "Broken raised KeyError in layer 'head' (Head)" in err and "vocab entry 17 missing" in err, err
    assert "rejected the inputs" not in err
    assert not os.path.exists(tmp_path / "out")


def test_a_trace_inside_the_output_folder_to_be_created_is_accepted(tmp_path):
    """`-o OUT --trace OUT/trace.json` with OUT not there yet: the profile creates OUT before it
    writes the trace, so the checks accept it; a trace in any other missing folder is refused."""
    from edgepower.cli.checks import check_profile_args

    out = tmp_path / "new-profile"
    args = cli.build_parser().parse_args(["profile", "vgg11", "-o", str(out), "--trace", str(out / "trace.json")])
    check_profile_args(args)  # no error
    assert not out.exists()  # checking creates nothing
    args = cli.build_parser().parse_args(["profile", "vgg11", "-o", str(out),
                                          "--trace", str(tmp_path / "elsewhere" / "trace.json")])
    with pytest.raises(FileNotFoundError, match="--trace"):
        check_profile_args(args)
