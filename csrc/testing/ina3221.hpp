#pragma once
// INA3221 emulator: a software model of the chip that maintains a jetson-hwmon sysfs tree
//   <root>/sys/bus/i2c/drivers/ina3221/<device>/hwmon/<hwmon>/
//     in<c>_label, in<c>_input (bus mV), curr<c>_input (mA), in<c+3>_input (shunt uV),
//     shunt<c>_resistor (uOhm), in7_label/in7_input/curr4_input (sum channel), name,
//     update_interval (ms), samples
// so that the real JetsonHwmonSensor reads it unchanged, while the true power (and its exact
// integral) is known. Values are rewritten in place with pwrite of fixed-width text: a reader
// that keeps its fds open and re-reads with pread (as sysfs readers do) sees every update and
// never a short file.
//
// The chip model (TI SBOS576):
//  - channels are converted in turn, shunt then bus, so channel c's shunt is observed over
//    [o + k*C*P + c*P, + SC] with P = SC + BC, and its registers refresh every C*P;
//  - the shunt ADC integrates over its conversion time: a conversion reads the mean current over
//    that interval (computed exactly from the source's energy), plus Gaussian noise;
//  - each conversion is quantised (40 uV shunt LSB, 8 mV bus LSB) and fed to the running-average
//    filter acc += (code - acc) / N; the register holds acc rounded to an LSB;
//  - curr<c>_input = round(shunt_uV * 1000 / R_uOhm) mA, as the mainline driver computes it.
// Time zero of the conversion schedule is start time (or the origin given to advance_to).
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <atomic>
#include <vector>

#include "core/sensors/synthetic.hpp"

namespace edgepower {

struct Ina3221Config {
  std::string root;                      ///< directory the sysfs tree is created under (must exist)
  std::string device = "1-0040";         ///< i2c bus-address directory name
  std::string hwmon = "hwmon0";          ///< hwmon directory name
  /// Rail labels, one per enabled channel (1..3). The first rail follows the source exactly
  /// (scale 1); scales[i] gives the share of the source's power on rail i.
  std::vector<std::string> labels = {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"};
  std::vector<double> scales = {1.0, 0.6, 0.25};
  double shunt_ohm = 0.005;              ///< shunt resistor (ohm); current LSB = 40 uV / shunt_ohm
  double bus_v = 5.0;                    ///< bus voltage (V), constant
  double bus_conversion_s = 1.1e-3;      ///< one of 140, 204, 332, 588 us, 1.1, 2.116, 4.156, 8.244 ms
  double shunt_conversion_s = 1.1e-3;    ///< same set
  int averages = 1;                      ///< N: 1, 4, 16, 64, 128, 256, 512 or 1024
  double noise_w = 0.0;                  ///< Gaussian noise per shunt conversion (W-equivalent, std dev)
  /// What update_interval (ms) reports: false = the mainline driver since 2021, C * (BC + SC);
  /// true = the drivers before (JetPack 4/5 kernels), N * C * (BC + SC). Both DIV_ROUND_CLOSEST.
  bool interval_includes_averages = false;
  /// SCHED_FIFO priority of the conversion thread where the system permits it (0: normal). The
  /// chip never stalls; a starved emulator thread would freeze the files for whole scheduler slices.
  int realtime_priority = 1;
  uint64_t seed = 1;                     ///< noise seed
};

/// Register contents of one channel at a moment.
struct Ina3221Registers {
  int64_t bus_mv = 0;       ///< bus voltage as in<c>_input
  int64_t shunt_uv = 0;     ///< shunt voltage as in<c+3>_input
  int64_t current_ma = 0;   ///< current as curr<c>_input
  uint64_t updates = 0;     ///< shunt register refreshes so far
  int64_t last_update_ns = 0;  ///< when the shunt register last refreshed (CLOCK_MONOTONIC ns)
};

/// Emulates one INA3221. Construction creates the tree and writes steady-state values for the
/// source's power at construction time (as if the chip had run long before). start() runs a
/// thread that advances the model to "now" at every conversion end; advance_to() does the same
/// synchronously (tests). All public methods are thread-safe.
class Ina3221Emulator {
 public:
  /// Throws std::invalid_argument for a bad setting (naming it and the allowed values) and
  /// std::runtime_error when the tree cannot be created under config.root.
  Ina3221Emulator(std::shared_ptr<SyntheticSensor> source, Ina3221Config config);
  ~Ina3221Emulator();  ///< stops the thread; leaves the tree on disk
  Ina3221Emulator(const Ina3221Emulator&) = delete;
  Ina3221Emulator& operator=(const Ina3221Emulator&) = delete;

  /// Starts the conversion thread; time zero of the schedule is now. Throws std::logic_error if running.
  void start();
  /// Stops and joins the thread (returns within one conversion). Safe to call twice.
  void stop();
  bool running() const noexcept { return running_.load(); }

  /// Runs every conversion that ends at or before t_ns (schedule origin: the first call's
  /// origin_ns, or start()), updating registers and files. Deterministic for a given source.
  void advance_to(int64_t t_ns, int64_t origin_ns = -1);

  Ina3221Registers registers(int channel) const;  ///< channel 0-based; throws std::out_of_range
  const Ina3221Config& config() const noexcept { return config_; }
  /// Directory of the hwmon files.
  const std::string& hwmon_dir() const noexcept { return dir_; }
  /// Register refresh period C * (BC + SC), seconds.
  double refresh_s() const noexcept;
  /// Running-average time constant N * C * (BC + SC), seconds.
  double filter_tau_s() const noexcept { return refresh_s() * config_.averages; }
  /// Time from the centre of a channel's shunt conversion to its register update (= SC / 2), s.
  double conversion_lag_s() const noexcept { return 0.5 * config_.shunt_conversion_s; }
  /// True power of rail `channel` at t (W) and its exact energy over [t0, t1] (J).
  double true_power_w(int channel, int64_t t_ns) const;
  double true_energy_j(int channel, int64_t t0_ns, int64_t t1_ns) const;
  /// Conversions run so far (all channels, shunt and bus).
  uint64_t conversions() const;
  /// When each shunt register refresh (any channel) began to be visible in the files:
  /// CLOCK_MONOTONIC ns just before the channel's files are rewritten, one entry per refresh,
  /// oldest first (the first 2^20 refreshes); not sorted across channels written in one pass.
  /// The ground truth of how soon a reader saw each refresh.
  std::vector<int64_t> refresh_writes() const;
  /// The exact instants (CLOCK_MONOTONIC ns) at which channel `channel`'s shunt register (-1:
  /// any channel's) refreshed in [t0_ns, t1_ns), in time order: the chip's own schedule, with
  /// no writer in between. Empty before the schedule has an origin (start() or a first read).
  std::vector<int64_t> refresh_instants(int64_t t0_ns, int64_t t1_ns, int channel = -1) const;
  /// Reads the registers as a driver would over I2C: advances the model to this instant (no file
  /// is rewritten) and returns each channel's bus_mV x current_mA in watts; records the instant
  /// (first 2^20 reads, register_reads()). What Ina3221RegisterSensor::read calls.
  void read_registers(double* power_w);
  /// When each read_registers call saw the registers (CLOCK_MONOTONIC ns), oldest first.
  std::vector<int64_t> register_reads() const;

 private:
  void advance_locked(int64_t t_ns, int64_t origin_ns, bool write_files);
  struct Channel {
    double acc_shunt_code = 0;  // filter state, LSB units
    double acc_bus_code = 0;
    Ina3221Registers reg;
    int fd_bus = -1, fd_curr = -1, fd_shunt = -1;
  };
  void create_tree();
  void write_channel(Channel& ch);
  void write_fixed(int fd, int64_t value);
  void run();
  double shunt_code(int channel, int64_t t0_ns, int64_t t1_ns);

  std::shared_ptr<SyntheticSensor> source_;
  Ina3221Config config_;
  std::string dir_;
  int64_t sc_ns_, bc_ns_, pair_ns_, cycle_ns_;
  mutable std::mutex mutex_;
  std::vector<Channel> channels_;
  int fd_sum_in_ = -1, fd_sum_curr_ = -1;
  int64_t origin_ns_ = -1;
  uint64_t next_slot_ = 0;  // next conversion slot: 2 per channel per cycle (shunt, bus)
  uint64_t conversions_ = 0;
  static constexpr std::size_t kMaxWritten = std::size_t{1} << 20;
  std::vector<int64_t> written_;  // refresh_writes()
  std::vector<int64_t> reads_;    // register_reads()
  std::mt19937_64 rng_;
  std::normal_distribution<double> noise_{0.0, 1.0};
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
};

/// The emulated chip read in process, as a driver reads its registers: each read() computes the
/// registers for the instant of the read (Ina3221Emulator::read_registers), so the refresh
/// instants are exact (refresh_instants()) and no writer thread's wake-up jitter stands between
/// the chip and the reader. The files are not rewritten by these reads: use either this sensor
/// or the sysfs tree (start()), not both. For tests of when a sampler reads each refresh.
class Ina3221RegisterSensor : public Sensor {
 public:
  explicit Ina3221RegisterSensor(std::shared_ptr<Ina3221Emulator> emulator);
  void read(double* power_w, double* counter_j) override;
  const std::shared_ptr<Ina3221Emulator>& emulator() const noexcept { return emulator_; }

 private:
  std::shared_ptr<Ina3221Emulator> emulator_;
};

}  // namespace edgepower
