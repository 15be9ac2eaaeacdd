#pragma once
/// A generic, ordered list of named field values: the bridge between field-described types
/// (core/fields.h) and every serialisation (HDF5 in oracle/h5io.h, JSON in reports).
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/fields.h"

namespace lockstep {

using FieldValue = std::variant<int64_t, double, std::string, Tensor>;

struct Record {
  std::vector<std::pair<std::string, FieldValue>> fields;
  const FieldValue* find(const std::string& name) const {
    for (auto& [n, v] : fields)
      if (n == name) return &v;
    return nullptr;
  }
};

/// Scalars become int64/double, enums their name (string), tensors stay tensors.
template <class Obj>
Record to_record(const Obj& obj) {
  Record r;
  for_each_field(obj, [&](const char* name, auto& f) {
    using F = std::decay_t<decltype(f)>;
    if constexpr (std::is_same_v<F, Tensor>) r.fields.emplace_back(name, f);
    else if constexpr (std::is_enum_v<F>) r.fields.emplace_back(name, std::string(enum_name(f)));
    else if constexpr (std::is_same_v<F, double>) r.fields.emplace_back(name, f);
    else if constexpr (std::is_same_v<F, std::string>) r.fields.emplace_back(name, f);
    else r.fields.emplace_back(name, static_cast<int64_t>(f));
  });
  return r;
}

namespace detail {
/// `d` as an int64 when it is finite, integral and inside int64's range.
inline bool double_to_int64(double d, int64_t* out) {
  // -2^63 is exact; 2^63 is the first double past INT64_MAX. NaN fails every comparison.
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
  const auto i = static_cast<int64_t>(d);
  if (static_cast<double>(i) != d) return false;
  *out = i;
  return true;
}

template <class Obj>
struct RecordLoader {
  const Record& r;
  const std::string& path;

  template <class F, class... Rules>
    requires(std::is_same_v<Rules, Rule> && ...)
  void operator()(const char* name, F& f, const Rules&...) {
    static_assert(!std::is_integral_v<F>, "every integer field needs an IntRange in its field description");
    const FieldValue* v = r.find(name);
    if (!v) return;
    const std::string field = path + "/" + name;
    if constexpr (std::is_same_v<F, Tensor>) {
      if (auto* t = std::get_if<Tensor>(v)) f = *t;
      else throw Error(field, "", "must be a dataset (tensor), found a scalar attribute");
    } else if constexpr (std::is_enum_v<F>) {
      if (auto* s = std::get_if<std::string>(v)) f = parse_enum<F>(*s, field);
      else throw Error(field, "", "must be a string attribute");
    } else if constexpr (std::is_same_v<F, std::string>) {
      if (auto* s = std::get_if<std::string>(v)) f = *s;
      else throw Error(field, "", "must be a string attribute");
    } else {
      static_assert(std::is_same_v<F, double>);
      if (auto* d = std::get_if<double>(v)) f = *d;
      else if (auto* i = std::get_if<int64_t>(v)) f = static_cast<double>(*i);
      else throw Error(field, "", "must be a numeric attribute");
    }
  }

  template <class F, class... Rules>
    requires(std::is_integral_v<F> && (std::is_same_v<Rules, Rule> && ...))
  void operator()(const char* name, F& f, IntRange range, const Rules&...) {
    const FieldValue* v = r.find(name);
    if (!v) return;
    const std::string field = path + "/" + name;
    int64_t value = 0;
    if (auto* i = std::get_if<int64_t>(v)) {
      value = *i;
    } else if (auto* d = std::get_if<double>(v)) {
      require(double_to_int64(*d, &value), field, fmt::format("{}", *d), "must be an integer");
    } else {
      throw Error(field, "", "must be an integer attribute");
    }
    require(value >= range.lo && value <= range.hi, field, value,
            fmt::format("out of range [{}, {}]", range.lo, range.hi));
    f = static_cast<F>(value);
  }
};
}  // namespace detail

/// Fills `obj` from `r`. A field missing from the record keeps the value `obj` already has (the type's
/// default); a field of the wrong kind, a non-integral / non-finite value for an integer field and an
/// integer outside the field's declared IntRange throw Error naming `path/name`. Fields the type does
/// not have are ignored here (check_known_fields rejects them). Integers are accepted for double fields;
/// shapes/dtypes are checked later by validate().
template <class Obj>
void from_record(const Record& r, Obj& obj, const std::string& path) {
  detail::RecordLoader<Obj> loader{r, path};
  obj.fields(loader);
}

/// Throws Error naming `path/<name>` for the first field of `r` that is not in `known`, listing the
/// known names (a misspelled field must not silently fall back to the default).
inline void check_known_fields(const Record& r, const std::vector<std::string>& known, const std::string& path) {
  for (const auto& [name, value] : r.fields) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(path + "/" + name, "", "unknown field (known fields: " + list + ")");
  }
}

}  // namespace lockstep
