// The common command-line walker (common/include/fogmesh/common/cli.hpp): `--name value` and
// `--name=value` give the same option, a flag given `=value` is refused rather than taken, and
// the k8s binaries' option loops take both spellings. No API server: the binaries stop at the
// usage check.
#include "fogmesh/common/cli.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace fogmesh::cli {
namespace {

// The (option, value) pairs and bare arguments an option loop sees, the way the k8s mains walk
// argv: options in `valued` take a value, anything else starting with '-' is unknown.
struct walk_result {
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::string> unknown;
  std::string error;
};

walk_result walk(std::vector<std::string> argv_strings, const std::vector<std::string>& valued) {
  argv_strings.insert(argv_strings.begin(), "program");
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  walk_result r;
  arguments args(static_cast<int>(argv.size()), argv.data());
  try {
    while (args.next()) {
      std::string a = args.current();
      bool takes_value = std::find(valued.begin(), valued.end(), a) != valued.end();
      if (takes_value) {
        r.options.emplace_back(a, args.value());
      } else if (a == "--flag") {
        r.options.emplace_back(a, "");
      } else {
        r.unknown.push_back(a);
      }
    }
  } catch (const usage_error& e) {
    r.error = e.what();
  }
  return r;
}

using options = std::vector<std::pair<std::string, std::string>>;

TEST(cli_arguments, BothSpellingsGiveTheSameOptions) {
  std::vector<std::string> valued = {"--namespace", "--email", "-c"};
  auto spaced = walk({"--namespace", "edge", "--flag", "--email", "a@b.c", "-c", "x"}, valued);
  auto joined = walk({"--namespace=edge", "--flag", "--email=a@b.c", "-c", "x"}, valued);
  options expected = {{"--namespace", "edge"}, {"--flag", ""}, {"--email", "a@b.c"}, {"-c", "x"}};
  EXPECT_EQ(spaced.options, expected);
  EXPECT_EQ(joined.options, expected);
  EXPECT_TRUE(joined.unknown.empty());
  EXPECT_EQ(joined.error, "");
}

TEST(cli_arguments, ValueSplitsAtTheFirstEqualsAndMayBeEmpty) {
  auto r = walk({"--password=a=b==", "--namespace="}, {"--password", "--namespace"});
  EXPECT_EQ(r.options, (options{{"--password", "a=b=="}, {"--namespace", ""}}));
}

TEST(cli_arguments, SeparateValueIsTakenVerbatimEvenWhenItLooksLikeAnOption) {
  auto r = walk({"--password", "--x=y", "--flag"}, {"--password"});
  EXPECT_EQ(r.options, (options{{"--password", "--x=y"}, {"--flag", ""}}));
  EXPECT_TRUE(r.unknown.empty());
}

TEST(cli_arguments, FlagGivenAValueComesBackWholeAsUnknown) {
  auto r = walk({"--flag=yes", "--namespace=a"}, {"--namespace"});
  // The flag itself is seen (a program that returns on it, like --help, is unaffected), then the
  // untaken value makes the whole argument come back, which the loop refuses.
  EXPECT_EQ(r.options, (options{{"--flag", ""}, {"--namespace", "a"}}));
  EXPECT_EQ(r.unknown, std::vector<std::string>{"--flag=yes"});
}

TEST(cli_arguments, FlagGivenAValueAsTheLastArgumentIsStillRefused) {
  auto r = walk({"--flag=1"}, {});
  EXPECT_EQ(r.unknown, std::vector<std::string>{"--flag=1"});
}

TEST(cli_arguments, ShortOptionsAndPlainArgumentsAreNotSplit) {
  auto r = walk({"-c=x", "key=value", "--=v"}, {"-c"});
  EXPECT_TRUE(r.options.empty());
  EXPECT_EQ(r.unknown, (std::vector<std::string>{"-c=x", "key=value", "--=v"}));
}

TEST(cli_arguments, MissingValueNamesTheOption) {
  EXPECT_EQ(walk({"--flag", "--email"}, {"--email"}).error, "--email needs a value");
}

// Runs a binary with its output (both streams) captured; returns (exit status, output).
std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, ""};
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(k8s_mains, TakeOptionEqualsValue) {
  // Each value is wrong on purpose, so the binary stops at the check that proves it read it.
  auto [code, out] = run(std::string(FOGMESH_KUBELET_BIN) + " --sync-interval=0");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--sync-interval needs a positive number of milliseconds, not '0'"),
            std::string::npos)
      << out;

  std::tie(code, out) = run(std::string(FOGMESH_OPERATOR_BIN) + " --log-level=loud");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("unknown log level loud"), std::string::npos) << out;

  // Values the check accepts, then the next missing requirement: the options were taken.
  std::tie(code, out) = run("env -u ROUTER_ADDRESS " + std::string(FOGMESH_PORT_MANAGER_BIN) +
                            " --controller-url=http://127.0.0.1:1 --email=a@b.c --password=pw");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--router-address (or ROUTER_ADDRESS) is needed"), std::string::npos) << out;

  std::tie(code, out) = run(std::string(FOGMESH_KUBELET_BIN) + " --no-leader-elect=yes");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("unknown option --no-leader-elect=yes"), std::string::npos) << out;
}

}  // namespace
}  // namespace fogmesh::cli
