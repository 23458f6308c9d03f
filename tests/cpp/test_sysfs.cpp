// File helpers of the sysfs sensors (csrc/core/sensors/sysfs.hpp) on the fixture trees in
// tests/data/sensors: path joining, globbing, files opened once and re-read with pread, and the
// documented errors for missing, unreadable, empty and garbage files.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "core/sensor.hpp"
#include "core/sensors/sysfs.hpp"
#include "sensor_fixtures.hpp"

using namespace edgepower;
using edgepower::testing::DenyAccess;
using edgepower::testing::fixture;
using edgepower::testing::TempTree;

namespace {
const char* kEnergy1 = "sys/class/hwmon/hwmon0/energy1_input";  // "123000000\n" in the fixture

// The message of the SensorError that fn throws ("" if it does not throw).
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const SensorError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Sysfs, JoinPutsExactlyOneSlash) {
  EXPECT_EQ(sysfs::join("/", "sys/x"), "/sys/x");
  EXPECT_EQ(sysfs::join("/", "/sys/x"), "/sys/x");
  EXPECT_EQ(sysfs::join("", "sys/x"), "/sys/x");
  EXPECT_EQ(sysfs::join("/tmp/root/", "sys/x"), "/tmp/root/sys/x");
  EXPECT_EQ(sysfs::join("/tmp/root//", "//sys/x"), "/tmp/root/sys/x");
  EXPECT_EQ(sysfs::join("rel", "a"), "rel/a");
}

TEST(Sysfs, GlobIsSortedAndEmptyWhenNothingMatches) {
  const auto dirs = sysfs::glob(sysfs::join(fixture("hwmon"), "sys/class/hwmon/hwmon*"));
  ASSERT_EQ(dirs.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(dirs[i], fixture("hwmon") + "/sys/class/hwmon/hwmon" + std::to_string(i));
  EXPECT_TRUE(sysfs::glob(fixture("hwmon") + "/sys/class/nothing*").empty());
  EXPECT_TRUE(sysfs::exists(fixture("hwmon") + "/" + kEnergy1));
  EXPECT_TRUE(sysfs::exists(fixture("hwmon") + "/sys"));
  EXPECT_FALSE(sysfs::exists(fixture("hwmon") + "/sys/nothing"));
}

TEST(Sysfs, ReadTextStripsTrailingWhitespaceAndReportsErrno) {
  std::string text;
  int err = 0;
  ASSERT_TRUE(sysfs::read_text(fixture("hwmon") + "/sys/class/hwmon/hwmon0/name", &text, &err));
  EXPECT_EQ(text, "amd_energy");
  EXPECT_FALSE(sysfs::read_text(fixture("hwmon") + "/sys/class/hwmon/hwmon0/nothing", &text, &err));
  EXPECT_EQ(err, ENOENT);
  EXPECT_EQ(sysfs::errno_text(ENOENT), "no such file or directory");
  EXPECT_EQ(sysfs::errno_text(EACCES), "permission denied");
  TempTree tree;
  tree.write("empty", "");
  EXPECT_TRUE(sysfs::read_text(tree.path("empty"), &text, &err));  // an empty file is text ""
  EXPECT_EQ(text, "");
  tree.write("spaces", "  12 \t\n\n");
  ASSERT_TRUE(sysfs::read_text(tree.path("spaces"), &text, &err));
  EXPECT_EQ(text, "  12");  // only trailing whitespace goes
}

TEST(Sysfs, FileReadsFixtureValues) {
  sysfs::File f;
  int err = 0;
  ASSERT_TRUE(f.open(fixture("hwmon") + "/" + kEnergy1, &err));
  EXPECT_TRUE(f.is_open());
  EXPECT_EQ(f.path(), fixture("hwmon") + "/" + kEnergy1);
  EXPECT_EQ(f.read_int(), 123000000);
  EXPECT_EQ(f.read_int(), 123000000);  // again from offset 0, not from the end
  EXPECT_DOUBLE_EQ(f.read_double(), 123000000.0);
  EXPECT_EQ(f.read_text(), "123000000");
}

TEST(Sysfs, FileIsOpenedOnceAndRereadWithPread) {
  TempTree tree("hwmon");
  sysfs::File f;
  int err = 0;
  ASSERT_TRUE(f.open(tree.path(kEnergy1), &err));
  EXPECT_EQ(f.read_int(), 123000000);
  tree.write(kEnergy1, "124500000\n");  // rewritten in place, as the kernel updates an attribute
  EXPECT_EQ(f.read_int(), 124500000);
  tree.write(kEnergy1, "7");            // shorter than before: no stale tail
  EXPECT_EQ(f.read_int(), 7);
  // A new file renamed over the path is a new inode: the open descriptor still reads the old
  // one, which proves the file is not reopened on every read.
  tree.write("other", "99\n");
  ASSERT_EQ(std::rename(tree.path("other").c_str(), tree.path(kEnergy1).c_str()), 0);
  EXPECT_EQ(f.read_int(), 7);
  sysfs::File g;
  ASSERT_TRUE(g.open(tree.path(kEnergy1), &err));
  EXPECT_EQ(g.read_int(), 99);
}

TEST(Sysfs, FileMovesItsDescriptor) {
  sysfs::File a;
  int err = 0;
  ASSERT_TRUE(a.open(fixture("hwmon") + "/" + kEnergy1, &err));
  sysfs::File b(std::move(a));
  EXPECT_FALSE(a.is_open());
  ASSERT_TRUE(b.is_open());
  EXPECT_EQ(b.read_int(), 123000000);
  sysfs::File c;
  c = std::move(b);
  EXPECT_FALSE(b.is_open());
  EXPECT_EQ(c.read_int(), 123000000);
  EXPECT_NE(error_of([&] { a.read_int(); }).find("file is not open"), std::string::npos);
}

TEST(Sysfs, MissingFileFailsToOpenWithEnoent) {
  sysfs::File f;
  int err = 0;
  EXPECT_FALSE(f.open(fixture("hwmon") + "/sys/class/hwmon/hwmon0/energy9_input", &err));
  EXPECT_EQ(err, ENOENT);
  EXPECT_FALSE(f.is_open());
}

TEST(Sysfs, UnreadableFileFailsToOpenWithEacces) {
  TempTree tree("hwmon");
  ASSERT_EQ(chmod(tree.path(kEnergy1).c_str(), 0000), 0);
  sysfs::File f;
  int err = 0;
  std::string text;
  int text_err = 0;
  bool opened, read;
  {
    DenyAccess deny;  // even as root
    opened = f.open(tree.path(kEnergy1), &err);
    read = sysfs::read_text(tree.path(kEnergy1), &text, &text_err);
  }
  EXPECT_FALSE(opened);
  EXPECT_EQ(err, EACCES);
  EXPECT_FALSE(read);
  EXPECT_EQ(text_err, EACCES);
}

TEST(Sysfs, GarbageAndEmptyFilesNameTheFileAndTheValue) {
  TempTree tree;
  auto file = [&](const std::string& name, const std::string& text) {
    tree.write(name, text);
    sysfs::File f;
    int err = 0;
    EXPECT_TRUE(f.open(tree.path(name), &err));
    return f;
  };
  sysfs::File empty = file("empty", "\n");
  EXPECT_EQ(error_of([&] { empty.read_int(); }), tree.path("empty") + " is empty; expected an integer");
  EXPECT_EQ(error_of([&] { empty.read_double(); }), tree.path("empty") + " is empty; expected a number");
  sysfs::File abc = file("abc", "abc\n");
  EXPECT_EQ(error_of([&] { abc.read_int(); }), tree.path("abc") + " holds 'abc', not an integer");
  sysfs::File tail = file("tail", "12x");
  EXPECT_EQ(error_of([&] { tail.read_int(); }), tree.path("tail") + " holds '12x', not an integer");
  sysfs::File frac = file("frac", "1.5");
  EXPECT_EQ(error_of([&] { frac.read_int(); }), tree.path("frac") + " holds '1.5', not an integer");
  EXPECT_DOUBLE_EQ(frac.read_double(), 1.5);
  sysfs::File huge = file("huge", "99999999999999999999");
  EXPECT_NE(error_of([&] { huge.read_int(); }).find("not an integer"), std::string::npos);  // ERANGE
  sysfs::File neg = file("neg", "-42");
  EXPECT_EQ(neg.read_int(), -42);
  for (const char* bad : {"nan", "inf", "-inf", "1e999"}) {
    sysfs::File f = file("bad", bad);
    EXPECT_EQ(error_of([&] { f.read_double(); }), tree.path("bad") + " holds '" + bad + "', not a number");
  }
  // Long or binary garbage is shortened to 40 characters and made printable.
  sysfs::File bin = file("bin", std::string("\x01\x02") + std::string(60, 'z'));
  EXPECT_EQ(error_of([&] { bin.read_int(); }),
            tree.path("bin") + " holds '??" + std::string(38, 'z') + "...', not an integer");
}

TEST(Sysfs, ReadingADirectoryIsAnIoErrorNamingIt) {
  TempTree tree("hwmon");
  sysfs::File f;
  int err = 0;
  ASSERT_TRUE(f.open(tree.path("sys/class/hwmon/hwmon0"), &err));  // O_RDONLY opens a directory
  EXPECT_EQ(error_of([&] { f.read_int(); }),
            "cannot read " + tree.path("sys/class/hwmon/hwmon0") + ": is a directory");
}

TEST(Sysfs, ReadsAtMost4095Bytes) {
  TempTree tree;
  tree.write("big", std::string(5000, '7'));
  sysfs::File f;
  int err = 0;
  ASSERT_TRUE(f.open(tree.path("big"), &err));
  EXPECT_EQ(f.read_text(), std::string(4095, '7'));
}
