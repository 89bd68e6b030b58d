// fogctl's option spellings: `--name=value` is `--name value` for every option that takes a
// value (global and per verb); a value given apart is never split; a flag given `=value` is
// refused. Each case stops at a check before any controller is contacted.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fogmesh/ctl/cli.hpp"

namespace fogmesh::ctl {
namespace {

struct outcome {
  int code;
  std::string err;
};

class cli_options_test : public ::testing::Test {
 protected:
  void SetUp() override {
    // fogctl keeps its state under FOGMESH_HOME: a fresh one, so no developer's state is read.
    home_ = std::filesystem::temp_directory_path() /
            ("fogctl-cli-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(home_);
    ::setenv("FOGMESH_HOME", home_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("FOGMESH_HOME");
    std::filesystem::remove_all(home_);
  }
  static outcome fogctl(std::vector<std::string> args) {
    args.insert(args.begin(), "fogctl");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ::testing::internal::CaptureStderr();
    ::testing::internal::CaptureStdout();
    int code = run(static_cast<int>(argv.size()), argv.data());
    (void)::testing::internal::GetCapturedStdout();
    return {code, ::testing::internal::GetCapturedStderr()};
  }
  std::filesystem::path home_;
};

TEST_F(cli_options_test, GlobalOptionsTakeAttachedValues) {
  auto r = fogctl({"--namespace=elsewhere", "get", "all"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("namespace 'elsewhere' is not connected"), std::string::npos) << r.err;
  r = fogctl({"get", "all", "--output=xml"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("-o takes json or yaml"), std::string::npos) << r.err;
}

TEST_F(cli_options_test, VerbOptionsTakeAttachedValues) {
  auto missing = (home_ / "missing.yaml").string();
  auto r = fogctl({"deploy", "--file=" + missing});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(missing + ": cannot read the file"), std::string::npos) << r.err;
  r = fogctl({"deploy", "--timeout=0", "-f", missing});
  EXPECT_NE(r.err.find("--timeout needs a number of seconds"), std::string::npos) << r.err;
  r = fogctl({"connect", "--controller=http://127.0.0.1:1", "--kube=/nonexistent"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("give either --controller or --kube"), std::string::npos) << r.err;
  r = fogctl({"logs", "--tail=x", "controller"});
  EXPECT_NE(r.err.find("--tail needs a number"), std::string::npos) << r.err;
}

TEST_F(cli_options_test, ValueGivenApartIsNotSplit) {
  // `--email=x` here is --controller's value, not an --email option: without the split the
  // connect check complains about the missing email/password, not about --kube.
  auto r = fogctl({"connect", "--controller", "--kube=y"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.find("give either --controller or --kube"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--controller, --email and --password are required"), std::string::npos)
      << r.err;
}

TEST_F(cli_options_test, FlagGivenAValueIsRefused) {
  auto r = fogctl({"deploy", "-f", "x.yaml", "--quiet=yes"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unexpected argument '--quiet=yes'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fogmesh::ctl
