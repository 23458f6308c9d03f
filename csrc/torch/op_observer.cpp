#include "op_observer.hpp"

#include <ATen/record_function.h>

#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "../core/clock.hpp"

namespace edgepower::torchlib {

// ---- the buffer -------------------------------------------------------------------------------
struct OpBuffer {
  static constexpr std::size_t kCacheSlots = 4096;  // power of two
  static constexpr std::size_t kMaxNames = 1 << 16;

  OpBuffer(std::size_t cap, int32_t depth_limit)
      : capacity(cap), max_depth(depth_limit), t_ns(new int64_t[cap]), op(new int32_t[cap]),
        kind(new uint8_t[cap]), depth(new int16_t[cap]), name_ptr(new const char*[kMaxNames]) {
    for (auto& c : cache) c = CacheSlot{nullptr, -1};
  }

  const std::size_t capacity;
  const int32_t max_depth;  // -1: all
  std::unique_ptr<int64_t[]> t_ns;
  std::unique_ptr<int32_t[]> op;
  std::unique_ptr<uint8_t[]> kind;
  std::unique_ptr<int16_t[]> depth;
  std::atomic<std::size_t> size{0};      // published prefix (release after each write)
  std::atomic<int64_t> dropped{0};
  std::atomic<bool> active{false};
  std::atomic<int64_t> sessions{0};

  // Names: written by the observed thread on the first op of each name (under the mutex), read
  // by anyone under the mutex; the fast path reads name_ptr[id] of an id the same thread wrote.
  struct CacheSlot {
    const char* ptr;
    int32_t id;
  };
  CacheSlot cache[kCacheSlots];
  std::unique_ptr<const char*[]> name_ptr;  // stable: points into `names`
  mutable std::mutex names_mutex;
  std::deque<std::string> names;  // deque: push_back keeps element addresses
  std::unordered_map<std::string, int32_t> ids;

  /// Id of `name`; -1 when the name table is full. Called only by the observed thread.
  int32_t intern(const char* name) {
    const auto p = reinterpret_cast<uintptr_t>(name);
    CacheSlot& slot = cache[((p >> 3) ^ (p >> 15)) & (kCacheSlots - 1)];
    // The pointer alone could alias a different (freed) string: confirm by content.
    if (slot.ptr == name && std::strcmp(name_ptr[slot.id], name) == 0) return slot.id;
    int32_t id;
    {
      std::lock_guard<std::mutex> lock(names_mutex);
      auto it = ids.find(name);
      if (it != ids.end()) {
        id = it->second;
      } else {
        if (names.size() >= kMaxNames) return -1;
        id = static_cast<int32_t>(names.size());
        names.emplace_back(name);
        name_ptr[id] = names.back().c_str();
        ids.emplace(names.back(), id);
      }
    }
    slot = CacheSlot{name, id};
    return id;
  }

  void push(int64_t t, int32_t id, OpEventKind k, int32_t d) {
    const std::size_t i = size.load(std::memory_order_relaxed);
    if (i >= capacity || id < 0) {
      dropped.store(dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return;
    }
    t_ns[i] = t;
    op[i] = id;
    kind[i] = static_cast<uint8_t>(k);
    depth[i] = static_cast<int16_t>(d < INT16_MAX ? d : INT16_MAX);
    size.store(i + 1, std::memory_order_release);
  }
};

// ---- per-thread state -------------------------------------------------------------------------
namespace {

constexpr int32_t kTrackedDepth = 1024;
std::atomic<uint32_t> g_generation{0};

struct ThreadState {
  std::shared_ptr<OpBuffer> buf;  // the session's buffer on this thread, or null
  OpBuffer* raw = nullptr;        // buf.get(), read on the hot path
  uint32_t gen = 0;               // generation of the session on this thread (0: none)
  int32_t depth = 0;              // begins seen on this thread whose end has not come yet
  int32_t base_depth = 0;         // depth when the session started
  uint64_t handle = 0;            // callback registered on this thread (0: none)
  uint32_t gen_at[kTrackedDepth];  // generation that saw each open begin (0: no session)
};

ThreadState& tls() {
  thread_local ThreadState state;
  return state;
}

std::unique_ptr<at::ObserverContext> on_begin(const at::RecordFunction& fn) {
  ThreadState& s = tls();
  const int32_t d = s.depth++;
  OpBuffer* b = s.raw;
  const bool live = b != nullptr && s.gen != 0 && b->active.load(std::memory_order_relaxed);
  if (d < kTrackedDepth) s.gen_at[d] = live ? s.gen : 0;
  if (!live) return nullptr;
  const int32_t rel = d - s.base_depth;
  if (b->max_depth >= 0 && rel >= b->max_depth) return nullptr;
  const int32_t id = b->intern(fn.name());
  b->push(now_ns(), id, OpEventKind::Begin, rel);  // stamped last: bookkeeping stays outside the op
  return nullptr;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext*) {
  const int64_t t = now_ns();  // stamped first
  ThreadState& s = tls();
  if (s.depth == 0) return;  // an end whose begin this thread did not see (async op)
  const int32_t d = --s.depth;
  const uint32_t g = d < kTrackedDepth ? s.gen_at[d] : s.gen;
  OpBuffer* b = s.raw;
  // A begin seen by an earlier session (or none) ends here: not this session's op.
  if (b == nullptr || g == 0 || g != s.gen || !b->active.load(std::memory_order_relaxed)) return;
  const int32_t rel = d - s.base_depth;
  if (b->max_depth >= 0 && rel >= b->max_depth) return;
  b->push(t, b->intern(fn.name()), OpEventKind::End, rel);
}

}  // namespace

uint32_t current_generation_for_tests() { return tls().gen; }

// ---- OpObserver -------------------------------------------------------------------------------
OpObserver::OpObserver(int64_t capacity_events, int64_t max_depth) {
  if (capacity_events < 2) {
    throw std::invalid_argument("OpObserver: capacity_events must be >= 2 (an op is a begin and an end event), got " +
                                std::to_string(capacity_events));
  }
  if (max_depth == 0 || max_depth < -1 || max_depth > INT16_MAX) {
    throw std::invalid_argument("OpObserver: max_depth must be -1 (all ops) or 1..32767 (1: outermost ops only), got " +
                                std::to_string(max_depth));
  }
  buf_ = std::make_shared<OpBuffer>(static_cast<std::size_t>(capacity_events), static_cast<int32_t>(max_depth));
}

OpObserver::~OpObserver() {
  if (!active_) return;
  if (std::this_thread::get_id() == owner_) {
    try {
      stop();
    } catch (...) {
    }
  } else {
    // The callback stays registered on the owner thread (only that thread can remove it) but
    // does nothing: its thread state keeps the buffer alive, and the owner's next start()
    // removes the callback.
    buf_->active.store(false, std::memory_order_relaxed);
  }
}

void OpObserver::start() {
  if (active_) throw std::logic_error("OpObserver.start(): this observer is already active; stop() it first");
  ThreadState& s = tls();
  if (s.raw != nullptr && s.raw->active.load(std::memory_order_relaxed)) {
    throw std::logic_error("OpObserver.start(): another OpObserver is active on this thread; stop it first "
                           "(one observer per thread)");
  }
  if (s.handle != 0) {  // left by an observer destroyed on another thread while active
    at::removeCallback(s.handle);
    s.handle = 0;
  }
  uint32_t gen = g_generation.fetch_add(1) + 1;
  if (gen == 0) gen = g_generation.fetch_add(1) + 1;  // 0 means "no session"
  buf_->sessions.fetch_add(1, std::memory_order_relaxed);
  buf_->active.store(true, std::memory_order_relaxed);
  s.buf = buf_;
  s.raw = buf_.get();
  s.gen = gen;
  s.base_depth = s.depth;
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&on_begin, &on_end).scopes({at::RecordScope::FUNCTION}).needsInputs(false));
  s.handle = handle_;
  owner_ = std::this_thread::get_id();
  active_ = true;
}

void OpObserver::stop() {
  if (!active_) return;
  if (std::this_thread::get_id() != owner_) {
    throw std::logic_error("OpObserver.stop() must be called from the thread that called start() "
                           "(RecordFunction callbacks are thread-local)");
  }
  at::removeCallback(handle_);
  ThreadState& s = tls();
  s.buf.reset();
  s.raw = nullptr;
  s.gen = 0;
  s.handle = 0;
  buf_->active.store(false, std::memory_order_relaxed);
  handle_ = 0;
  active_ = false;
}

bool OpObserver::active() const { return active_; }
int64_t OpObserver::size() const { return static_cast<int64_t>(buf_->size.load(std::memory_order_acquire)); }
int64_t OpObserver::capacity() const { return static_cast<int64_t>(buf_->capacity); }
int64_t OpObserver::dropped() const { return buf_->dropped.load(std::memory_order_relaxed); }
int64_t OpObserver::sessions() const { return buf_->sessions.load(std::memory_order_relaxed); }

void OpObserver::clear() {
  if (active_) throw std::logic_error("OpObserver.clear(): stop() the observer first");
  buf_->size.store(0, std::memory_order_release);
  buf_->dropped.store(0, std::memory_order_relaxed);
}

OpEvents OpObserver::events(int64_t begin) const {
  const auto n = static_cast<int64_t>(buf_->size.load(std::memory_order_acquire));
  if (begin < 0) throw std::invalid_argument("OpObserver.events(): begin must be >= 0");
  OpEvents e;
  if (begin >= n) return e;
  const auto m = static_cast<std::size_t>(n - begin);
  const auto b = static_cast<std::size_t>(begin);
  e.t_ns.assign(buf_->t_ns.get() + b, buf_->t_ns.get() + b + m);
  e.op.assign(buf_->op.get() + b, buf_->op.get() + b + m);
  e.kind.assign(buf_->kind.get() + b, buf_->kind.get() + b + m);
  e.depth.assign(buf_->depth.get() + b, buf_->depth.get() + b + m);
  return e;
}

std::vector<std::string> OpObserver::names() const {
  std::lock_guard<std::mutex> lock(buf_->names_mutex);
  return {buf_->names.begin(), buf_->names.end()};
}

}  // namespace edgepower::torchlib
