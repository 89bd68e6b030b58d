// result<T>: a value or a std::error_code. g++ 12 in C++20 has no std::expected, so this copies
// its member names (has_value, value, error, operator bool) and can be swapped for it later.
#pragma once

#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace fogmesh {

struct unexpected_error {
  std::error_code code;
};

inline unexpected_error unexpected(std::error_code code) { return unexpected_error{code}; }
template <class E>
  requires std::is_error_code_enum_v<E>
unexpected_error unexpected(E e) {
  return unexpected_error{make_error_code(e)};
}

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  result(unexpected_error err) : storage_(std::in_place_index<1>, err.code) {}  // NOLINT

  bool has_value() const noexcept { return storage_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(storage_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(storage_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(storage_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(storage_);
  }

 private:
  std::variant<T, std::error_code> storage_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(unexpected_error err) : error_(err.code) {}  // NOLINT
  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return error_; }

 private:
  std::error_code error_;
};

}  // namespace fogmesh
