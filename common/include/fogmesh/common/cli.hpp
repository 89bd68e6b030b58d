// Command lines of the small binaries: walks argv, hands out option values, and answers
// -h/--help and -v/--version the same way in every program.
#pragma once

#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fogmesh::cli {

// A usage error (e.g. an option without its value): main prints it with a pointer to --help
// and exits 2.
class usage_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Both spellings of a long option's value are accepted: `--name value` and `--name=value` (as
// getopt_long does). For `--name=value`, current() is `--name` and value() is `value`, so the
// programs compare option names only. A flag given `=value` (e.g. `--daemon=yes`) is not
// silently taken as the flag: when the program asks for the next argument without having taken
// the value, the same argument comes back once more whole (`--daemon=yes`), which the program's
// option loop then refuses as an unknown option. Short options (`-c`) and arguments that are
// not long options (`key=value`) are never split.
class arguments {
 public:
  arguments(int argc, char** argv) : argc_(argc), argv_(argv) {}
  // Moves to the next argument; false when none is left.
  bool next() {
    if (attached_value_ && !whole_again_) {
      // The previous option was given `=value` and did not take it: hand it out again whole.
      whole_again_ = true;
      return true;
    }
    attached_value_.reset();
    whole_again_ = false;
    if (++index_ >= argc_) return false;
    std::string_view arg = argv_[index_];
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos && eq > 2) {
      attached_value_ = std::string(arg.substr(eq + 1));
    }
    return true;
  }
  // The current argument; for `--name=value`, `--name`.
  std::string current() const {
    std::string_view arg = argv_[index_];
    if (attached_value_ && !whole_again_) return std::string(arg.substr(0, arg.find('=')));
    return std::string(arg);
  }
  // The current option's value: the part after `=`, else the argument after it. Throws
  // usage_error when there is none.
  std::string value() {
    if (attached_value_ && !whole_again_) {
      std::string v = std::move(*attached_value_);
      attached_value_.reset();
      return v;
    }
    if (index_ + 1 >= argc_) throw usage_error(current() + " needs a value");
    return argv_[++index_];
  }

 private:
  int argc_;
  char** argv_;
  int index_ = 0;
  std::optional<std::string> attached_value_;  // set while `--name=value`'s value is not taken
  bool whole_again_ = false;                   // handing out an untaken `--name=value` whole
};

// -h/--help prints `usage`, -v/--version prints "<program> <version>"; true when it was one of
// them (the program then exits 0).
inline bool standard_option(std::string_view arg, const char* usage, const char* program,
                            std::string_view version) {
  if (arg == "-h" || arg == "--help") {
    std::fputs(usage, stdout);
    return true;
  }
  if (arg == "-v" || arg == "--version") {
    std::printf("%s %.*s\n", program, static_cast<int>(version.size()), version.data());
    return true;
  }
  return false;
}

}  // namespace fogmesh::cli
