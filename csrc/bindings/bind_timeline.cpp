#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "core/timeline.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

void register_timeline(py::module_& m) {
  py::class_<Timeline, TimelinePtr>(m, "Timeline",
                                    "Append-only log of region begin/end marks on the monotonic clock; "
                                    "mark() is lock-free and callable from any thread.")
      .def(py::init<>())
      .def("region", &Timeline::region, py::arg("name"), "Id of the named region (created once).")
      .def("region_name", &Timeline::region_name, py::arg("id"))
      .def_property_readonly("num_regions", &Timeline::num_regions)
      .def("begin", [](Timeline& t, int32_t id) { t.mark(id, MarkKind::Begin); }, py::arg("id"),
           "Marks the beginning of region `id` now.")
      .def("end", [](Timeline& t, int32_t id) { t.mark(id, MarkKind::End); }, py::arg("id"),
           "Marks the end of region `id` now.")
      .def("mark", [](Timeline& t, int32_t id, bool begin) { t.mark(id, begin ? MarkKind::Begin : MarkKind::End); },
           py::arg("id"), py::arg("begin"))
      .def("mark_at", [](Timeline& t, int64_t t_ns, int32_t id, bool begin) {
             t.mark_at(t_ns, id, begin ? MarkKind::Begin : MarkKind::End);
           }, py::arg("t_ns"), py::arg("id"), py::arg("begin"))
      .def("merge",
           [](Timeline& tl, py::array_t<int64_t, py::array::c_style | py::array::forcecast> t,
              py::array_t<int32_t, py::array::c_style | py::array::forcecast> region,
              py::array_t<uint8_t, py::array::c_style | py::array::forcecast> kind) {
             if (t.ndim() != 1 || region.ndim() != 1 || kind.ndim() != 1 || t.size() != region.size() ||
                 t.size() != kind.size()) {
               throw std::invalid_argument("merge needs three 1-D arrays of equal length (t_ns, region, kind)");
             }
             const auto n = static_cast<std::size_t>(t.size());
             for (std::size_t i = 0; i < n; ++i) {
               if (region.data()[i] < 0 || static_cast<std::size_t>(region.data()[i]) >= tl.num_regions()) {
                 throw std::invalid_argument("merge: region id " + std::to_string(region.data()[i]) +
                                             " is not a region of this timeline; name it with region() first");
               }
             }
             py::gil_scoped_release release;
             tl.merge(t.data(), region.data(), kind.data(), n);
           },
           py::arg("t_ns"), py::arg("region"), py::arg("kind"),
           "Appends marks taken elsewhere on the same clock (kind 1 = begin, 0 = end).")
      .def("__len__", &Timeline::size)
      .def("marks",
           [](const Timeline& tl, std::size_t begin) {
             const std::size_t n = tl.size();
             const std::size_t m = begin < n ? n - begin : 0;
             py::array_t<int64_t> t(m);
             py::array_t<int32_t> r(m);
             py::array_t<uint8_t> k(m);
             std::size_t got;
             {
               py::gil_scoped_release release;
               got = tl.copy(begin, begin + m, t.mutable_data(), r.mutable_data(), k.mutable_data());
             }
             t.resize({static_cast<py::ssize_t>(got)});
             r.resize({static_cast<py::ssize_t>(got)});
             k.resize({static_cast<py::ssize_t>(got)});
             py::dict d;
             d["t_ns"] = t; d["region"] = r; d["kind"] = k;
             return d;
           },
           py::arg("begin") = 0, "Marks from index `begin` as arrays t_ns, region, kind (1 = begin).")
      .def("windows",
           [](const Timeline& tl) {
             std::vector<Window> w;
             {
               py::gil_scoped_release release;
               w = tl.windows();
             }
             py::array_t<int32_t> r(w.size());
             py::array_t<int64_t> t0(w.size()), t1(w.size());
             for (std::size_t i = 0; i < w.size(); ++i) {
               r.mutable_data()[i] = w[i].region;
               t0.mutable_data()[i] = w[i].t0_ns;
               t1.mutable_data()[i] = w[i].t1_ns;
             }
             py::dict d;
             d["region"] = r; d["t0_ns"] = t0; d["t1_ns"] = t1;
             return d;
           },
           "Matched begin/end pairs sorted by begin: arrays region, t0_ns, t1_ns.");
}

}  // namespace edgepower::bindings
