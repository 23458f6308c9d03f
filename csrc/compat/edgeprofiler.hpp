#pragma once
// EdgeProfiler (fuzzylabs/edge-vision-power-estimation) format compatibility, outside the
// measurement core (library edgepower_compat): their per-layer mapping rule reproduced exactly
// ("compat"), a corrected mapping (trapezoid energy per window, no sample consumption), and
// writers of their formats: power logs, pandas-identical CSVs, Python's float repr, their
// timestamps and timedelta rounding. The power log *reader* is a trace format of the core
// (core/sensors/edgeprofiler_log.hpp, used by the replay sensor) and is included here.
//
// Units: EdgeProfiler timestamps are naive wall-clock datetimes; here they become int64
// microseconds since 1970-01-01 00:00:00 of the same (unspecified) zone (`_us`). Voltage is mV,
// current mA, so their power is mV * mA = microwatts (`_uw`) and energy microjoules (`_uj`).
// Everything here is a pure function or owns its data: thread-safe, no shared state.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/sensors/edgeprofiler_log.hpp"

namespace edgepower::edgeprofiler {

/// Formats microseconds since 1970-01-01 as "YYYYmmdd-HH:MM:SS.ffffff" (always 6 digits).
std::string format_timestamp_us(int64_t t_us);

/// Microseconds of Python's timedelta(milliseconds=ms): whole milliseconds exactly, the
/// fractional part times 1000 in double arithmetic, and the sub-microsecond leftover rounded half
/// to even on the total, exactly as CPython's datetime module does. ms must be finite.
int64_t timedelta_ms_to_us(double ms);

/// Upstream's rule, reproduced exactly. Rows (cycle-major, then layer in execution order) have
/// windows [start_us[r], end_us[r]]. One forward pass over the samples in file order: skip samples
/// with t < start, then take samples with t <= end; a taken sample is consumed, so it belongs to
/// at most one row (a shared boundary goes to the earlier row). When the samples run out, the
/// current row is emitted with what it has and later rows are dropped.
/// Writes mean_power_uw[r] (arithmetic mean of power_uw over the row's samples, summed in file
/// order then divided; NaN if none) and num_samples[r] for the emitted rows and returns how many
/// rows were emitted (num_rows when the log outlasts every window). Rows past the return value
/// are left untouched. n == 0 emits nothing.
std::size_t compat_sweep(const int64_t* t_us, const double* power_uw, std::size_t n,
                         const int64_t* start_us, const int64_t* end_us, std::size_t num_rows,
                         double* mean_power_uw, int64_t* num_samples);

/// Corrected mapping: energy of each window [start_us[r], end_us[r]] by trapezoid over the
/// power samples with linear interpolation at the edges (energy.hpp attribute_windows), samples
/// shared freely between windows. t_us must be sorted ascending. Outputs per row: energy_uj
/// (NaN when the samples do not cover the window; status says why, an EnergyStatus code),
/// mean_power_uw = energy / duration (NaN for an empty window), the same two less the idle power
/// (idle_power_uw, and idle_power_uw * duration), and num_samples with start <= t <= end.
void corrected_windows(const int64_t* t_us, const double* power_uw, std::size_t n,
                       const int64_t* start_us, const int64_t* end_us, std::size_t num_rows,
                       double idle_power_uw, double* energy_uj, double* energy_excl_idle_uj,
                       double* mean_power_uw, double* mean_power_excl_idle_uw,
                       int64_t* num_samples, uint8_t* status);

/// Python's repr() of a double ("5440000.0", "0.1", "1e+16", "1.5e-05", "nan", "-inf"): the
/// shortest text that reads back to the same double, fixed notation for decimal exponents
/// -4..15, else scientific with at least two exponent digits. pandas' to_csv writes the same.
std::string repr_double(double x);
/// Appends repr_double(x) to out without allocating a temporary.
void append_repr_double(std::string& out, double x);

/// Renders samples in EdgeProfiler's power log format, one "<timestamp>,<mV>,<mA>\n" a sample,
/// the timestamp with 6 fraction digits and both numbers as repr_double.
std::string render_power_log(const int64_t* t_us, const double* voltage_mv, const double* current_ma,
                             std::size_t n);

/// One column of a CSV table for write_csv(). Pointers must stay valid for the call.
struct CsvColumn {
  enum class Kind { Int, Float, Text };
  Kind kind = Kind::Float;
  const int64_t* ints = nullptr;        ///< Kind::Int: one value a row
  const double* floats = nullptr;       ///< Kind::Float: one value a row, NaN written as empty
  const int32_t* text_index = nullptr;  ///< Kind::Text: index into texts, one a row
  const std::vector<std::string>* texts = nullptr;
};

/// Renders a CSV table the way pandas' DataFrame.to_csv(index=False) does: header line, ','
/// separators, '\n' line ends, fields quoted only when they hold ',', '"', '\r' or '\n' (quotes
/// doubled), integers in decimal, floats as repr_double, NaN as an empty field.
/// Throws std::invalid_argument for a header/column count mismatch or a text index out of range.
std::string render_csv(const std::vector<std::string>& header, const std::vector<CsvColumn>& columns,
                       std::size_t num_rows);

}  // namespace edgepower::edgeprofiler
