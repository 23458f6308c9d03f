"""
EdgeProfiler interoperability: power log parser, upstream's mapping rule, corrected mapping
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['ParseError', 'compat_sweep', 'corrected_windows', 'format_timestamps', 'parse_power_log', 'parse_timestamps', 'read_power_log', 'render_csv', 'render_power_log', 'repr_double', 'timedelta_ms_to_us']
class ParseError(ValueError):
    pass
def compat_sweep(t_us: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], power_uw: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], start_us: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], end_us: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.int64], int]:
    """
    Upstream's mapping rule: (mean_power_uw, num_samples, rows_emitted); rows after the end of the log are dropped.
    """
def corrected_windows(t_us: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], power_uw: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], start_us: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], end_us: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], idle_power_uw: typing.SupportsFloat | typing.SupportsIndex) -> dict:
    """
    Trapezoid energy per window without sample consumption; status codes as energy.status_message.
    """
def format_timestamps(t_us: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> list[str]:
    """
    Microseconds since 1970 as 'YYYYmmdd-HH:MM:SS.ffffff' strings.
    """
def parse_power_log(text: bytes) -> dict:
    """
    Like read_power_log, from the bytes of a log.
    """
def parse_timestamps(texts: collections.abc.Sequence[str]) -> numpy.typing.NDArray[numpy.int64]:
    """
    Timestamps 'YYYYmmdd-HH:MM:SS.f' as int64 microseconds since 1970 (ValueError names the index).
    """
def read_power_log(path: str) -> dict:
    """
    Parse a power log file ('YYYYmmdd-HH:MM:SS.f,<mV>,<mA>' a line): a dict of t_us (int64 us since 1970), voltage_mv, current_ma, line (1-based), blank_lines, backward_steps, first_backward_line. Raises ParseError (a ValueError with .line) for a malformed line.
    """
def render_csv(header: collections.abc.Sequence[str], columns: list, rows: typing.SupportsInt | typing.SupportsIndex) -> bytes:
    """
    A CSV table rendered as pandas' to_csv(index=False) does (floats as repr, NaN empty), as bytes.
    """
def render_power_log(t_us: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], voltage_mv: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], current_ma: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> bytes:
    """
    Samples in EdgeProfiler's log format ('YYYYmmdd-HH:MM:SS.ffffff,<mV>,<mA>' lines) as bytes.
    """
def repr_double(x: typing.SupportsFloat | typing.SupportsIndex) -> str:
    """
    Python's repr() of a float, computed natively.
    """
def timedelta_ms_to_us(ms: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> numpy.typing.NDArray[numpy.int64]:
    """
    Microseconds of Python's timedelta(milliseconds=x) for each x (round half to even).
    """
