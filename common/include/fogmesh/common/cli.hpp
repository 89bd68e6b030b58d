// Command lines of the small binaries: walks argv, hands out option values, and answers
// -h/--help and -v/--version the same way in every program.
#pragma once

#include <cstdio>
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

class arguments {
 public:
  arguments(int argc, char** argv) : argc_(argc), argv_(argv) {}
  // Moves to the next argument; false when none is left.
  bool next() { return ++index_ < argc_; }
  std::string current() const { return argv_[index_]; }
  // The current option's value: the argument after it. Throws usage_error when there is none.
  std::string value() {
    if (index_ + 1 >= argc_) throw usage_error(std::string(argv_[index_]) + " needs a value");
    return argv_[++index_];
  }

 private:
  int argc_;
  char** argv_;
  int index_ = 0;
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
