#pragma once
// Region marks on the shared clock (CLOCK_MONOTONIC ns), written from any thread.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace edgepower {

enum class MarkKind : uint8_t { End = 0, Begin = 1 };

struct Mark {
  int64_t t_ns;
  int32_t region;
  MarkKind kind;
};

/// A matched begin/end pair of one region.
struct Window {
  int32_t region;
  int64_t t0_ns;
  int64_t t1_ns;
};

/// Append-only log of marks. mark() is lock-free (one fetch_add on the fast path) and callable
/// from any thread; readers copy out a consistent prefix while writers go on.
class Timeline {
 public:
  static constexpr std::size_t kChunkMarks = 4096;
  static constexpr std::size_t kMaxChunks = 1 << 16;  // 268M marks

  Timeline();
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  /// Id of the region called `name`, created on first use; thread-safe (takes a mutex).
  int32_t region(const std::string& name);
  /// Name of region `id`; throws std::out_of_range for an unknown id. Thread-safe.
  std::string region_name(int32_t id) const;
  /// Number of named regions; thread-safe.
  std::size_t num_regions() const;

  /// Records `kind` of `region` now (now_ns()). Thread-safe, lock-free, no allocation except
  /// the first mark of each 4096-mark chunk. Throws std::length_error when full.
  void mark(int32_t region, MarkKind kind);
  /// Same, with an explicit timestamp (ns of CLOCK_MONOTONIC).
  void mark_at(int64_t t_ns, int32_t region, MarkKind kind);
  /// Appends n marks taken elsewhere on the same clock (e.g. by another native module).
  void merge(const int64_t* t_ns, const int32_t* region, const uint8_t* kind, std::size_t n);

  /// Marks fully written so far (a prefix: a mark still being written ends it). Thread-safe.
  std::size_t size() const;
  /// Copies marks [begin, min(end, size())) in insertion order; returns how many were copied.
  std::size_t copy(std::size_t begin, std::size_t end, int64_t* t_ns, int32_t* region,
                   uint8_t* kind) const;
  std::vector<Mark> marks(std::size_t begin = 0) const;

  /// Matched windows sorted by begin time. Begins and ends of one region pair up LIFO (so a
  /// region may nest in itself); an end without a begin throws std::runtime_error naming it;
  /// still-open begins are left out.
  std::vector<Window> windows() const;

 private:
  struct Slot {
    int64_t t_ns;
    int32_t region;
    uint8_t kind;
    std::atomic<uint8_t> ready;
  };
  Slot* slot_for_write(std::size_t index);

  std::atomic<std::size_t> claimed_{0};
  // Every mark below this index is fully written: size() scans only from here (amortised O(new)).
  mutable std::atomic<std::size_t> published_{0};
  std::unique_ptr<std::atomic<Slot*>[]> chunks_;
  mutable std::mutex names_mutex_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, int32_t> ids_;
};

using TimelinePtr = std::shared_ptr<Timeline>;

}  // namespace edgepower
