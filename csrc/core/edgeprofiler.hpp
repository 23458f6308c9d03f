#pragma once
// EdgeProfiler (fuzzylabs/edge-vision-power-estimation) interoperability: their power log
// parser, their per-layer mapping rule reproduced exactly ("compat"), and a corrected mapping
// (trapezoid energy per window, no sample consumption).
//
// Units: EdgeProfiler timestamps are naive wall-clock datetimes; here they become int64
// microseconds since 1970-01-01 00:00:00 of the same (unspecified) zone (`_us`). Voltage is mV,
// current mA, so their power is mV * mA = microwatts (`_uw`) and energy microjoules (`_uj`).
// Everything here is a pure function or owns its data: thread-safe, no shared state.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace edgepower::edgeprofiler {

/// A malformed input line. line() is 1-based (0 when not tied to a line).
class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& what, std::size_t line) : std::runtime_error(what), line_(line) {}
  std::size_t line() const { return line_; }

 private:
  std::size_t line_;
};

/// Parses "YYYYmmdd-HH:MM:SS.f" where the fraction has 1 to 6 digits (right-padded with zeros,
/// as Python's %f does: ".20" is 200000 us) into microseconds since 1970-01-01. Date and time
/// fields are fixed width and range-checked (month 1-12, day within the month, 00-23:00-59:00-59).
/// Returns false (and leaves *t_us alone) when the text is not exactly that.
bool parse_timestamp_us(std::string_view text, int64_t* t_us);

/// Formats microseconds since 1970-01-01 as "YYYYmmdd-HH:MM:SS.ffffff" (always 6 digits).
std::string format_timestamp_us(int64_t t_us);

/// Microseconds of Python's timedelta(milliseconds=ms): whole milliseconds exactly, the
/// fractional part times 1000 in double arithmetic, and the sub-microsecond leftover rounded half
/// to even on the total, exactly as CPython's datetime module does. ms must be finite.
int64_t timedelta_ms_to_us(double ms);

/// The samples of one power log, in file order.
struct PowerLog {
  std::vector<int64_t> t_us;        ///< microseconds since 1970-01-01
  std::vector<double> voltage_mv;   ///< millivolts as written
  std::vector<double> current_ma;   ///< milliamps as written
  std::vector<int64_t> line;        ///< 1-based line number of each sample
  std::size_t blank_lines = 0;      ///< empty or whitespace-only lines, skipped
  std::size_t backward_steps = 0;   ///< samples whose timestamp is earlier than the previous one
  std::size_t first_backward_line = 0;  ///< line of the first such sample, 0 if none
};

/// Parses a power log held in memory: one sample a line, "<timestamp>,<mV>,<mA>"; spaces, tabs
/// and a '\r' around a line are ignored and blank lines are skipped (counted in blank_lines). mV and mA are decimal numbers (spaces around
/// them allowed) and must be finite. Throws ParseError naming the line and what was wrong.
PowerLog parse_power_log(std::string_view text);

/// Reads and parses a power log file. Throws std::runtime_error when the file cannot be read,
/// ParseError for a malformed line.
PowerLog read_power_log(const std::string& path);

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
