#pragma once
/// A generic, ordered list of named field values: the bridge between field-described types
/// (core/fields.h) and every serialisation (HDF5 in oracle/h5io.h, JSON in reports).
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
    else r.fields.emplace_back(name, static_cast<int64_t>(f));
  });
  return r;
}

/// Fills `obj` from `r`. A field missing from the record keeps the value `obj` already has (the type's
/// default); a field of the wrong kind throws Error naming `path/name`. Fields the type does not have
/// are ignored. Integers are accepted for double fields; shapes/dtypes are checked later by validate().
template <class Obj>
void from_record(const Record& r, Obj& obj, const std::string& path) {
  for_each_field(obj, [&](const char* name, auto& f) {
    using F = std::decay_t<decltype(f)>;
    const FieldValue* v = r.find(name);
    if (!v) return;
    const std::string field = path + "/" + name;
    if constexpr (std::is_same_v<F, Tensor>) {
      if (auto* t = std::get_if<Tensor>(v)) f = *t;
      else throw Error(field, "", "must be a dataset (tensor), found a scalar attribute");
    } else if constexpr (std::is_enum_v<F>) {
      if (auto* s = std::get_if<std::string>(v)) f = parse_enum<F>(*s, field);
      else throw Error(field, "", "must be a string attribute");
    } else if constexpr (std::is_same_v<F, double>) {
      if (auto* d = std::get_if<double>(v)) f = *d;
      else if (auto* i = std::get_if<int64_t>(v)) f = static_cast<double>(*i);
      else throw Error(field, "", "must be a numeric attribute");
    } else {
      if (auto* i = std::get_if<int64_t>(v)) f = static_cast<F>(*i);
      else if (auto* d = std::get_if<double>(v)) {
        require(*d == static_cast<double>(static_cast<int64_t>(*d)), field, *d, "must be an integer");
        f = static_cast<F>(*d);
      } else {
        throw Error(field, "", "must be an integer attribute");
      }
    }
  });
}

}  // namespace lockstep
