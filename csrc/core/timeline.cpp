#include "timeline.hpp"

#include <algorithm>
#include <stdexcept>

#include "clock.hpp"

namespace edgepower {

Timeline::Timeline() : chunks_(new std::atomic<Slot*>[kMaxChunks]) {
  for (std::size_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
}

Timeline::~Timeline() {
  for (std::size_t i = 0; i < kMaxChunks; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
}

int32_t Timeline::region(const std::string& name) {
  std::lock_guard<std::mutex> lock(names_mutex_);
  auto it = ids_.find(name);
  if (it != ids_.end()) return it->second;
  auto id = static_cast<int32_t>(names_.size());
  names_.push_back(name);
  ids_.emplace(name, id);
  return id;
}

std::string Timeline::region_name(int32_t id) const {
  std::lock_guard<std::mutex> lock(names_mutex_);
  if (id < 0 || static_cast<std::size_t>(id) >= names_.size()) {
    throw std::out_of_range("unknown timeline region id " + std::to_string(id));
  }
  return names_[static_cast<std::size_t>(id)];
}

std::size_t Timeline::num_regions() const {
  std::lock_guard<std::mutex> lock(names_mutex_);
  return names_.size();
}

Timeline::Slot* Timeline::slot_for_write(std::size_t index) {
  const std::size_t c = index / kChunkMarks;
  if (c >= kMaxChunks) throw std::length_error("timeline is full (268M marks); start a new one");
  Slot* chunk = chunks_[c].load(std::memory_order_acquire);
  if (chunk == nullptr) {
    // Whoever gets here first allocates; a losing racer frees its copy.
    auto* fresh = new Slot[kChunkMarks];
    for (std::size_t i = 0; i < kChunkMarks; ++i) fresh[i].ready.store(0, std::memory_order_relaxed);
    if (chunks_[c].compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
      chunk = fresh;
    } else {
      delete[] fresh;
    }
  }
  return &chunk[index % kChunkMarks];
}

void Timeline::mark_at(int64_t t_ns, int32_t region, MarkKind kind) {
  const std::size_t index = claimed_.fetch_add(1, std::memory_order_relaxed);
  Slot* s = slot_for_write(index);
  s->t_ns = t_ns;
  s->region = region;
  s->kind = static_cast<uint8_t>(kind);
  s->ready.store(1, std::memory_order_release);
}

void Timeline::mark(int32_t region, MarkKind kind) { mark_at(now_ns(), region, kind); }

void Timeline::merge(const int64_t* t_ns, const int32_t* region, const uint8_t* kind,
                     std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (kind[i] > 1) throw std::invalid_argument("mark kind must be 0 (end) or 1 (begin)");
  }
  for (std::size_t i = 0; i < n; ++i) mark_at(t_ns[i], region[i], static_cast<MarkKind>(kind[i]));
}

std::size_t Timeline::size() const {
  const std::size_t claimed = claimed_.load(std::memory_order_acquire);
  std::size_t i = published_.load(std::memory_order_acquire);
  for (; i < claimed; ++i) {
    const Slot* chunk = chunks_[i / kChunkMarks].load(std::memory_order_acquire);
    if (chunk == nullptr || !chunk[i % kChunkMarks].ready.load(std::memory_order_acquire)) break;
  }
  // Raise the watermark (another reader may have raised it further already).
  std::size_t seen = published_.load(std::memory_order_relaxed);
  while (seen < i && !published_.compare_exchange_weak(seen, i, std::memory_order_acq_rel)) {
  }
  return i;
}

std::size_t Timeline::copy(std::size_t begin, std::size_t end, int64_t* t_ns, int32_t* region,
                           uint8_t* kind) const {
  const std::size_t claimed = claimed_.load(std::memory_order_acquire);
  end = std::min(end, claimed);
  std::size_t out = 0;
  for (std::size_t i = begin; i < end; ++i, ++out) {
    const Slot* chunk = chunks_[i / kChunkMarks].load(std::memory_order_acquire);
    if (chunk == nullptr) break;
    const Slot& s = chunk[i % kChunkMarks];
    if (!s.ready.load(std::memory_order_acquire)) break;
    t_ns[out] = s.t_ns;
    region[out] = s.region;
    kind[out] = s.kind;
  }
  return out;
}

std::vector<Mark> Timeline::marks(std::size_t begin) const {
  const std::size_t n = claimed_.load(std::memory_order_acquire);
  if (begin >= n) return {};
  std::vector<int64_t> t(n - begin);
  std::vector<int32_t> r(n - begin);
  std::vector<uint8_t> k(n - begin);
  const std::size_t got = copy(begin, n, t.data(), r.data(), k.data());
  std::vector<Mark> out(got);
  for (std::size_t i = 0; i < got; ++i) out[i] = Mark{t[i], r[i], static_cast<MarkKind>(k[i])};
  return out;
}

std::vector<Window> Timeline::windows() const {
  std::vector<Mark> all = marks();
  // Marks from several threads may be appended slightly out of time order.
  std::stable_sort(all.begin(), all.end(),
                   [](const Mark& a, const Mark& b) { return a.t_ns < b.t_ns; });
  std::unordered_map<int32_t, std::vector<int64_t>> open;
  std::vector<Window> out;
  for (const Mark& m : all) {
    if (m.kind == MarkKind::Begin) {
      open[m.region].push_back(m.t_ns);
    } else {
      auto& stack = open[m.region];
      if (stack.empty()) {
        throw std::runtime_error("timeline region '" + region_name(m.region) +
                                 "' ends without a begin");
      }
      out.push_back(Window{m.region, stack.back(), m.t_ns});
      stack.pop_back();
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Window& a, const Window& b) { return a.t0_ns < b.t0_ns; });
  return out;
}

}  // namespace edgepower
