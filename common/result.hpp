// A value or an error that names the input: expected failures are values, not exceptions.
#pragma once
#include <string>
#include <utility>
#include <variant>

namespace imagegate {

struct Error {
    std::string message;
};

template <class T> class Result {
  public:
    Result(T value) : state_(std::move(value)) {}
    Result(Error error) : state_(std::move(error)) {}
    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }
    const T &value() const & { return std::get<0>(state_); }
    T &value() & { return std::get<0>(state_); }
    T &&value() && { return std::get<0>(std::move(state_)); }
    const T *operator->() const { return &std::get<0>(state_); }
    const T &operator*() const { return std::get<0>(state_); }
    const std::string &error() const { return std::get<1>(state_).message; }

  private:
    std::variant<T, Error> state_;
};

// Nothing to return but success, or an error: `Result<void> f()` ... `return {};` / `return
// Error{"..."};`. The one convention for "did it work" (not bool, not an optional message).
template <> class Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error.message)), failed_(true) {}
    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const std::string &error() const { return error_; }

  private:
    std::string error_;
    bool failed_ = false;
};

} // namespace imagegate
