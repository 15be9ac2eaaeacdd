#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace lockstep {

/// The one error type for bad input: a field path (`case.kv_lens[2]`, `dump:/case/q`) and the offending
/// value, plus a sentence saying what was expected. Library code throws it; the CLI prints what() on one
/// line and exits non-zero. Never exit()/abort() on bad input.
class Error : public std::runtime_error {
 public:
  Error(std::string field, std::string value, const std::string& reason)
      : std::runtime_error(compose(field, value, reason)),
        field_(std::move(field)),
        value_(std::move(value)) {}
  const std::string& field() const { return field_; }
  const std::string& value() const { return value_; }

 private:
  static std::string compose(const std::string& field, const std::string& value, const std::string& reason) {
    if (value.empty()) return field + ": " + reason;
    return field + " = " + value + ": " + reason;
  }
  std::string field_;
  std::string value_;
};

/// Throws Error when `cond` is false; the value is formatted with fmt.
template <class V>
inline void require(bool cond, const std::string& field, const V& value, const std::string& reason) {
  if (!cond) throw Error(field, fmt::format("{}", value), reason);
}

}  // namespace lockstep
