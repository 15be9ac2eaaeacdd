#pragma once
/// Field descriptions. Every case and output type lists its fields once:
///
///   template <class V> void fields(V& v) { v("num_seqs", num_seqs, IntRange{0, 4096}); v("q", q); ... }
///
/// (one non-const member template; const access goes through const_cast in the helpers below). Field
/// types are int64_t, double, std::string, an enum with EnumNames<E>, or Tensor. An output field may add
/// its comparison Rule as the last argument (exact when absent): the oracle compares reference and device
/// outputs by these rules and nothing else. Every int64_t field declares the
/// range a file may give it (IntRange, checked on load by from_record in core/record.h, before
/// validate() and before any kernel narrows it to int32); from_record does not compile for a type with
/// an integer field that lacks one. HDF5 I/O (oracle/h5io.h), the canonical case string, equality and
/// the JSON summary are all derived from that one list. State types (scheduler requests and batches,
/// a step's results) describe their fields the same way, with std::vector and bool fields too; their
/// diffs derive from the list (first_state_difference below).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/tensor.h"

namespace lockstep {

/// Inclusive range of values an integer field accepts on load.
struct IntRange {
  int64_t lo;
  int64_t hi;
};
/// How the oracle compares one output field of reference and device (last argument of an Outputs field
/// description; `exact` when absent). Declared once, next to the field.
struct Rule {
  enum Kind {
    exact,      ///< bit for bit (integers, ids, page indices, written caches); `failure`: an extra line on mismatch
    tolerance,  ///< float tensor: NaN/Inf agreement, then |dev - ref| <= atol + rtol |ref| with the op's tolerance
                ///< function; a bf16/f16 output must also equal the f32-output device run rounded to nearest-even
    oob_reads,  ///< i32 (n, 5) out-of-range reads [seq, token, slot, page, bound] (core/oob_reads.h): every device
                ///< row fails (`failure`); reference rows with none on the device fail (`missed`); `listed`: the
                ///< rows are the report's device_oob / reference_oob
    oob_dropped,    ///< int64: records lost to the device log's capacity (the report's oob_dropped)
    must_be_empty,  ///< string: invariant failures a side found, one per line; every line fails
    info,           ///< not compared: a magnitude a tolerance is derived from, a statistic
  };
  Kind kind = exact;
  /// Failure line. oob_reads: fmt pattern with {n} (rows), {s} ("" or "s"), {entries} ("entry"/"entries")
  /// and the first row's {seq} {token} {slot} {page} {bound}; must_be_empty: the prefix of each line
  /// on the device side.
  const char* failure = nullptr;
  const char* missed = nullptr;  ///< oob_reads: pattern (with {n}) when the device has none but the reference
                                 ///< has some; must_be_empty: the prefix of each reference line
  bool listed = true;            ///< oob_reads: list the rows in the report
};

/// The int32 maximum, the usual upper bound of a field a kernel narrows to int32.
inline constexpr int64_t kFieldInt32Max = 2147483647;

/// Specialise with `static constexpr std::array<const char*, N> names` in enum order (values 0..N-1).
template <class E>
struct EnumNames;

template <>
struct EnumNames<DType> {
  static constexpr std::array<const char*, 6> names{"f32", "bf16", "f16", "i32", "i64", "bool"};
};

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires { EnumNames<E>::names; };

template <NamedEnum E>
const char* enum_name(E e) {
  auto i = static_cast<size_t>(e);
  return i < EnumNames<E>::names.size() ? EnumNames<E>::names[i] : "?";
}

template <NamedEnum E>
E parse_enum(std::string_view s, const std::string& field) {
  const auto& names = EnumNames<E>::names;
  for (size_t i = 0; i < names.size(); ++i) {
    if (s == names[i]) return static_cast<E>(i);
  }
  std::string expected;
  for (size_t i = 0; i < names.size(); ++i) expected += (i ? ", " : "") + std::string(names[i]);
  throw Error(field, std::string(s), "unknown value (expected one of: " + expected + ")");
}

namespace detail {
/// Adapts a two-argument visitor `fn(name, field&)` to field lists that also pass an IntRange or a Rule.
template <class Fn>
struct NameAndField {
  Fn& fn;
  template <class F, class... Extra>
  void operator()(const char* name, F& f, const Extra&...) {
    fn(name, f);
  }
};
}  // namespace detail

/// Calls `fn(name, field&)` for each field of `obj`.
template <class Obj, class Fn>
void for_each_field(Obj& obj, Fn&& fn) {
  detail::NameAndField<std::remove_reference_t<Fn>> v{fn};
  obj.fields(v);
}
template <class Obj, class Fn>
void for_each_field(const Obj& obj, Fn&& fn) {
  detail::NameAndField<std::remove_reference_t<Fn>> v{fn};
  const_cast<Obj&>(obj).fields(v);
}

/// The Rule among a field description's extra arguments (exact when there is none).
template <class... Extra>
constexpr Rule rule_of(const Extra&... extra) {
  Rule r;
  [[maybe_unused]] auto take = [&r](const auto& e) {
    if constexpr (std::is_same_v<std::decay_t<decltype(e)>, Rule>) r = e;
  };
  (take(extra), ...);
  return r;
}

namespace detail {
struct RangeCheck {
  const std::string& path;
  template <class F, class... Extra>
  void operator()(const char*, F&, const Extra&...) {}
  template <class F, class... Extra>
    requires std::is_integral_v<F>
  void operator()(const char* name, F& f, IntRange r, const Extra&...) {
    if (f < r.lo || f > r.hi)
      throw Error(path + "." + name, fmt::format("{}", f), fmt::format("out of range [{}, {}]", r.lo, r.hi));
  }
};
}  // namespace detail

/// Throws Error naming `path.name` for the first integer field of `obj` outside its IntRange: a validate()
/// derives its range checks from the field description instead of writing them again.
template <class Obj>
void require_ranges(const Obj& obj, const std::string& path) {
  detail::RangeCheck check{path};
  const_cast<Obj&>(obj).fields(check);
}

/// Names of the fields of `obj`, in declaration order.
template <class Obj>
std::vector<std::string> field_names(const Obj& obj) {
  std::vector<std::string> names;
  for_each_field(obj, [&](const char* name, auto&) { names.emplace_back(name); });
  return names;
}

/// Canonical one-line form: `op(name=value,...)`; scalars verbatim, 1-D integer tensors of up to 16
/// elements by value, other tensors as dtype[shape]. Empty tensors are left out.
template <class Obj>
std::string canonical_string(std::string_view op, const Obj& obj) {
  std::string out = std::string(op) + "(";
  bool first = true;
  auto add = [&](std::string_view name, const std::string& val) {
    out += (first ? "" : ",") + std::string(name) + "=" + val;
    first = false;
  };
  for_each_field(obj, [&](const char* name, auto& f) {
    using F = std::decay_t<decltype(f)>;
    if constexpr (std::is_same_v<F, Tensor>) {
      if (f.empty()) return;
      if (f.rank() == 1 && f.numel() <= 16 && !is_floating(f.dtype())) {
        std::string vals;
        for (int64_t i = 0; i < f.numel(); ++i) vals += (i ? "," : "") + std::to_string(f.get_int(i));
        add(name, "[" + vals + "]");
      } else {
        add(name, f.describe());
      }
    } else if constexpr (std::is_enum_v<F>) {
      add(name, enum_name(f));
    } else if constexpr (std::is_same_v<F, std::string>) {
      if (!f.empty()) add(name, f);
    } else if constexpr (std::is_same_v<F, double>) {
      add(name, fmt::format("{:g}", f));
    } else {
      add(name, fmt::format("{}", f));
    }
  });
  return out + ")";
}

/// Field-by-field bitwise equality; returns the first differing field name, or "" when equal.
template <class Obj>
std::string first_difference(const Obj& a, const Obj& b) {
  std::string diff;
  auto& bb = const_cast<Obj&>(b);
  std::vector<const void*> other;
  for_each_field(bb, [&](const char*, auto& f) { other.push_back(&f); });
  size_t i = 0;
  for_each_field(a, [&](const char* name, auto& f) {
    using F = std::decay_t<decltype(f)>;
    const F& g = *static_cast<const F*>(other[i++]);
    bool same;
    if constexpr (std::is_same_v<F, double>) {
      same = std::memcmp(&f, &g, sizeof f) == 0;
    } else {
      same = f == g;
    }
    if (!same && diff.empty()) diff = name;
  });
  return diff;
}

/// Text a state field's difference is reported as, instead of "{name}: reference x, device y"
/// (e.g. a bool whose meaning is better named by its effect).
struct DiffLabel {
  const char* text;
};

namespace detail {
inline const char* diff_label_of() { return nullptr; }
inline const char* diff_label_of(const DiffLabel& l) { return l.text; }
inline const char* diff_label_of(const IntRange&) { return nullptr; }

template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};

template <class T>
std::string state_value_text(const T& x) {
  if constexpr (NamedEnum<T>) {
    return enum_name(x);
  } else {
    return fmt::format("{}", x);
  }
}

/// "" when `a == b`, else the first difference of field `name` (see first_state_difference).
template <class F>
std::string state_field_difference(const char* name, const F& a, const F& b, const char* label) {
  if constexpr (IsVector<F>::value) {
    if (a.size() != b.size()) return fmt::format("{}: size {} vs {}", name, a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i])
        return fmt::format("{}[{}]: reference {}, device {}", name, i, state_value_text(a[i]), state_value_text(b[i]));
    return "";
  } else {
    if (a == b) return "";
    if (label) return label;
    return fmt::format("{}: reference {}, device {}", name, state_value_text(a), state_value_text(b));
  }
}
/// Visits the fields of the reference state; `other` holds the device state's fields in the same order.
struct StateDiffVisitor {
  const void* const* other;
  size_t i = 0;
  std::string diff;
  template <class F, class... Extra>
  void operator()(const char* name, F& f, const Extra&... extra) {
    const F& g = *static_cast<const F*>(other[i++]);
    if (diff.empty() && !(f == g)) diff = state_field_difference(name, f, g, diff_label_of(extra...));
  }
};
}  // namespace detail

/// First difference between two states described by fields() — scheduler state, step results: fields of
/// integer, bool or named-enum type and std::vector of those. State types are never loaded from a file,
/// so their integer fields declare no IntRange (from_record is not for them). Returns "" when every
/// field is equal, else, for the first differing field in declaration order:
///   "{name}: reference {x}, device {y}"        scalar (enum by name), or the field's DiffLabel text
///   "{name}[{i}]: reference {x}, device {y}"   first differing element of a vector
///   "{name}: size {n} vs {m}"                  vectors of different length
template <class Obj>
std::string first_state_difference(const Obj& ref, const Obj& dev) {
  // Called after every command of a stateful lockstep run: no heap allocation unless the states differ.
  constexpr size_t kMaxFields = 64;
  std::array<const void*, kMaxFields> other{};
  size_t n = 0;
  for_each_field(dev, [&](const char*, auto& f) {
    if (n < kMaxFields) other[n] = &f;
    ++n;
  });
  if (n > kMaxFields) throw Error("fields", std::to_string(n), "first_state_difference handles at most 64 fields");
  detail::StateDiffVisitor v{other.data(), 0, {}};
  const_cast<Obj&>(ref).fields(v);
  return v.diff;
}

}  // namespace lockstep
