"""Marks for edgepower-record, from Python 3.6+ with no dependencies (JetPack 4). Copy this file
next to your script; see docs/jetpack4.md. Each line sent is `begin NAME T_NS [type=...]` or
`end NAME T_NS [calls=N]`, T_NS being CLOCK_MONOTONIC ns, the recorder's clock."""
import contextlib, errno, fcntl, os, time

IDLE, MODEL = "(idle)", "(model)"  # names the report reads as the idle baseline and the whole model
_now = getattr(time, "monotonic_ns", lambda: int(time.monotonic() * 1e9))  # 3.6: no monotonic_ns


class Marks(object):
    def __init__(self, path="/tmp/edgepower-marks", wait_s=10.0):
        """Opens the named pipe of a running `edgepower-record --marks PATH`, waiting for it."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # fails at once with no reader
                break
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.ENXIO) or time.monotonic() > deadline:
                    raise RuntimeError("no edgepower-record reading %s (%s): start it first with "
                                       "--marks %s" % (path, e.strerror, path))
                time.sleep(0.05)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)

    def send(self, line):
        os.write(self.fd, (line + "\n").encode())  # one write under PIPE_BUF: never interleaved

    def begin(self, name, type=None):
        self.send("begin %s %d%s" % (name, _now(), " type=" + type if type else ""))

    def end(self, name, calls=1):
        self.send("end %s %d calls=%d" % (name, _now(), calls))

    @contextlib.contextmanager
    def layer(self, name, calls=1, type=None):
        """`with marks.layer("features.0", calls=100, type="Conv2d"): <run it 100 times>`"""
        self.begin(name, type)
        yield
        self.end(name, calls)

    def idle(self, seconds=2.0):
        """Marks `seconds` of idle (the device doing nothing) as the baseline to subtract."""
        with self.layer(IDLE):
            time.sleep(seconds)

    def stop(self):
        """Asks the recorder to finish the trace and exit."""
        self.send("stop")

    def close(self):
        os.close(self.fd)
