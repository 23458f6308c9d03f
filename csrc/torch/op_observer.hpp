#pragma once
// Op observer: stamps the begin and end of every ATen op run on one thread (RecordFunction,
// FUNCTION scope, no inputs) in nanoseconds of CLOCK_MONOTONIC, the clock of edgepower's
// samples and marks (edgepower::now_ns(), Python's time.monotonic_ns()).
//
// Cost model: one thread-local RecordFunction callback pair; per op, two clock reads and two
// stores into preallocated arrays. Op names are interned (a pointer-keyed cache in front of
// a name table): the first op of each name allocates its table entry, later ones allocate
// nothing. A full buffer drops further events and counts them (dropped()).
//
// Nesting: a composite op (aten::linear) calls others (aten::t, aten::addmm); every event
// carries its depth below the outermost op observed in this session (0 = outermost), so a
// reader can attribute time to the outermost op and still see the inner ones.
//
// Sessions and removal: start() registers the callbacks on the calling thread; stop() (same
// thread) removes them. An op that began in a session still gets its end callback after the
// session stopped (RecordFunction keeps the callbacks it started with): each thread keeps a
// stack of the generation of the session that saw each open begin, and an end whose
// generation is not the current session's is dropped. The buffer is shared-owned by the
// observer and the thread's state, so an observer destroyed on another thread never leaves a
// callback pointing at freed memory.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace edgepower::torchlib {

/// Kind of an event: the op's begin or end (the same encoding as edgepower's timeline marks).
enum class OpEventKind : uint8_t { End = 0, Begin = 1 };

struct OpBuffer;  // op_observer.cpp

/// Copy of the recorded events (struct of arrays, in recording order).
struct OpEvents {
  std::vector<int64_t> t_ns;   ///< CLOCK_MONOTONIC ns
  std::vector<int32_t> op;     ///< index into names()
  std::vector<uint8_t> kind;   ///< 1 = begin, 0 = end
  std::vector<int16_t> depth;  ///< 0 = outermost observed op
};

/// Records the ATen ops of the thread that calls start(). Not copyable. Methods other than
/// start()/stop() are thread-safe (they read a published prefix); start() and stop() must be
/// called from the same thread, the one whose ops are observed.
class OpObserver {
 public:
  /// capacity_events: events preallocated (an op is two events); max_depth: record only ops
  /// nested less than this deep (1 = the outermost only; -1 = all). Throws
  /// std::invalid_argument for a capacity < 2 or a max_depth of 0 or < -1.
  explicit OpObserver(int64_t capacity_events, int64_t max_depth = -1);
  ~OpObserver();
  OpObserver(const OpObserver&) = delete;
  OpObserver& operator=(const OpObserver&) = delete;

  /// Starts observing the calling thread's ops. Throws std::logic_error when this observer is
  /// already active, or when another observer is active on this thread.
  void start();
  /// Stops observing; an op still open finishes unrecorded. Throws std::logic_error when
  /// called from a thread other than the one that started it. No-op when not active.
  void stop();
  bool active() const;

  /// Events recorded so far (a consistent prefix while active).
  int64_t size() const;
  int64_t capacity() const;
  /// Events not recorded because the buffer was full.
  int64_t dropped() const;
  /// Sessions started on this observer.
  int64_t sessions() const;
  /// Forgets the events (not the names); throws std::logic_error while active.
  void clear();

  /// Copies the events [begin, size()).
  OpEvents events(int64_t begin = 0) const;
  /// Op names by id (thread-safe).
  std::vector<std::string> names() const;

 private:
  std::shared_ptr<OpBuffer> buf_;
  std::thread::id owner_{};
  uint64_t handle_ = 0;
  bool active_ = false;
};

/// Generation of the current session on the calling thread (0: none); for tests.
uint32_t current_generation_for_tests();

}  // namespace edgepower::torchlib
