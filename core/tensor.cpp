#include "core/tensor.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep {

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::boolean: return "bool";
  }
  return "?";
}

DType parse_dtype(std::string_view name, const std::string& field) {
  for (DType dt : {DType::f32, DType::bf16, DType::f16, DType::i32, DType::i64, DType::boolean}) {
    if (name == dtype_name(dt)) return dt;
  }
  throw Error(field, std::string(name), "unknown dtype (expected f32, bf16, f16, i32, i64 or bool)");
}

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::f16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::boolean: return 1;
  }
  return 0;
}

bool is_floating(DType dt) { return dt == DType::f32 || dt == DType::bf16 || dt == DType::f16; }

namespace {
/// double -> float rounding to odd: truncate, then set the last bit if anything was dropped. A float
/// rounded to odd, then rounded to nearest-even into bf16/f16, equals direct nearest-even rounding.
float to_float_round_odd(double x) {
  if (std::isnan(x) || std::isinf(x)) return static_cast<float>(x);
  float f = static_cast<float>(x);
  if (std::isinf(f)) return f;  // beyond float range: also beyond bf16/f16 range
  if (std::fabs(static_cast<double>(f)) > std::fabs(x)) f = std::nextafter(f, 0.0f);
  if (static_cast<double>(f) != x) f = bits_float(float_bits(f) | 1u);
  return f;
}
}  // namespace

double round_to(DType dt, double x) {
  switch (dt) {
    case DType::f32: return static_cast<float>(x);
    case DType::bf16: return to_float(to_bf16(to_float_round_odd(x)));
    case DType::f16: return to_float(to_f16(to_float_round_odd(x)));
    case DType::i32: return static_cast<double>(static_cast<int32_t>(x));
    case DType::i64: return static_cast<double>(static_cast<int64_t>(x));
    case DType::boolean: return x != 0 ? 1.0 : 0.0;
  }
  return x;
}

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ",")); }

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    // The field name is formatted only on failure: every Tensor construction runs this.
    if (s[i] < 0) require(false, fmt::format("shape[{}]", i), s[i], "dimension must be non-negative");
    if (n != 0 && s[i] > std::numeric_limits<int64_t>::max() / std::max<int64_t>(n, 1))
      require(false, fmt::format("shape[{}]", i), s[i], "element count overflows");
    n *= s[i];
  }
  return n;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = shape_numel(shape_);
  bytes_.assign(static_cast<size_t>(numel_) * dtype_size(dtype_), std::byte{0});
}

void Tensor::check_type(DType want) const {
  if (want != dtype_) {
    throw Error("tensor", describe(), fmt::format("accessed as {}", dtype_name(want)));
  }
}

void Tensor::check_count(size_t n) const {
  if (static_cast<int64_t>(n) != numel_) {
    throw Error("tensor", describe(), fmt::format("given {} values", n));
  }
}

double Tensor::get(int64_t i) const {
  const std::byte* p = bytes_.data() + static_cast<size_t>(i) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::f32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::bf16: { bf16 v; std::memcpy(&v, p, 2); return to_float(v); }
    case DType::f16: { f16 v; std::memcpy(&v, p, 2); return to_float(v); }
    case DType::i32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::i64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DType::boolean: return static_cast<double>(static_cast<uint8_t>(*p));
  }
  return 0;
}

std::vector<double> Tensor::values() const {
  std::vector<double> v(static_cast<size_t>(numel_));
  auto fill = [&](auto tag, auto convert) {
    using T = decltype(tag);
    const std::span<const T> s = span<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = convert(s[i]);
  };
  switch (dtype_) {
    case DType::f32: fill(float{}, [](float x) { return static_cast<double>(x); }); break;
    case DType::bf16: fill(bf16{}, [](bf16 x) { return static_cast<double>(to_float(x)); }); break;
    case DType::f16: fill(f16{}, [](f16 x) { return static_cast<double>(to_float(x)); }); break;
    case DType::i32: fill(int32_t{}, [](int32_t x) { return static_cast<double>(x); }); break;
    case DType::i64: fill(int64_t{}, [](int64_t x) { return static_cast<double>(x); }); break;
    case DType::boolean:
      for (size_t i = 0; i < v.size(); ++i) v[i] = get(static_cast<int64_t>(i));
      break;
  }
  return v;
}

int64_t Tensor::get_int(int64_t i) const {
  const std::byte* p = bytes_.data() + static_cast<size_t>(i) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::i32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::i64: { int64_t v; std::memcpy(&v, p, 8); return v; }
    case DType::boolean: return static_cast<uint8_t>(*p);
    default: return static_cast<int64_t>(get(i));
  }
}

void Tensor::set(int64_t i, double v) {
  std::byte* p = bytes_.data() + static_cast<size_t>(i) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::f32: { float x = static_cast<float>(v); std::memcpy(p, &x, 4); return; }
    case DType::bf16: { bf16 x = to_bf16(static_cast<float>(round_to(DType::bf16, v))); std::memcpy(p, &x, 2); return; }
    case DType::f16: { f16 x = to_f16(static_cast<float>(round_to(DType::f16, v))); std::memcpy(p, &x, 2); return; }
    case DType::i32: { int32_t x = static_cast<int32_t>(v); std::memcpy(p, &x, 4); return; }
    case DType::i64: { int64_t x = static_cast<int64_t>(v); std::memcpy(p, &x, 8); return; }
    case DType::boolean: { uint8_t x = v != 0; std::memcpy(p, &x, 1); return; }
  }
}

std::string Tensor::describe() const { return fmt::format("{}{}", dtype_name(dtype_), shape_str(shape_)); }

}  // namespace lockstep
