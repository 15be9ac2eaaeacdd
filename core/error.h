#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace lockstep {

/// `s` with every control character (C0, DEL, and C1 encoded as UTF-8) written as `\xNN`, so a string
/// taken from a file can neither break a message into two lines nor carry terminal escapes. Idempotent
/// (the output has no control characters), so messages can be composed from messages.
inline std::string escape_control(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {
      out += fmt::format("\\u{:04x}", next);
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// The one error type for bad input: a field path (`case.kv_lens[2]`, `dump:/case/q`) and the offending
/// value, plus a sentence saying what was expected. Library code throws it; the CLI prints what() on one
/// line and exits non-zero. Never exit()/abort() on bad input.
class Error : public std::runtime_error {
 public:
  Error(std::string field, std::string value, const std::string& reason)
      : std::runtime_error(compose(field, value, reason)),
        field_(std::move(field)),
        value_(std::move(value)),
        reason_(reason) {}
  const std::string& field() const { return field_; }
  const std::string& value() const { return value_; }
  const std::string& reason() const { return reason_; }

 private:
  static std::string compose(const std::string& field, const std::string& value, const std::string& reason) {
    if (value.empty()) return escape_control(field + ": " + reason);
    return escape_control(field + " = " + value + ": " + reason);
  }
  std::string field_;
  std::string value_;
  std::string reason_;
};

/// Throws Error when `cond` is false; the value is formatted with fmt.
template <class V>
inline void require(bool cond, const std::string& field, const V& value, const std::string& reason) {
  if (!cond) throw Error(field, fmt::format("{}", value), reason);
}

}  // namespace lockstep
