#pragma once
/// A small dense tensor: dtype, shape and contiguous row-major storage. Math goes through Eigen maps
/// (see eigen_maps.h); kernels see raw typed pointers.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace lockstep {

using Shape = std::vector<int64_t>;

const char* dtype_name(DType dt);
/// Parses "f32", "bf16", "f16", "i32", "i64", "bool"; throws Error naming `field` otherwise.
DType parse_dtype(std::string_view name, const std::string& field);
size_t dtype_size(DType dt);
bool is_floating(DType dt);

/// Rounds a double to the nearest value representable in `dt` (once, round-to-nearest-even; for bf16/f16
/// via round-to-odd float so there is no double rounding). Integers truncate toward zero.
double round_to(DType dt, double x);

std::string shape_str(const Shape& s);

/// memcpy that accepts empty ranges (the data pointer of an empty tensor may be null).
inline void copy_bytes(void* dst, const void* src, size_t n) {
  if (n > 0) std::memcpy(dst, src, n);
}
int64_t shape_numel(const Shape& s);

template <class T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<bf16>() { return DType::bf16; }
template <> constexpr DType dtype_of<f16>() { return DType::f16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::boolean; }

class Tensor {
 public:
  Tensor() = default;
  /// Zero-filled tensor.
  Tensor(DType dtype, Shape shape);
  template <class T>
  static Tensor from(Shape shape, const std::vector<T>& values) {
    Tensor t(dtype_of<T>(), std::move(shape));
    t.check_count(values.size());
    copy_bytes(t.bytes_.data(), values.data(), t.bytes_.size());
    return t;
  }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return bytes_.size(); }
  bool empty() const { return numel_ == 0; }

  std::byte* raw() { return bytes_.data(); }
  const std::byte* raw() const { return bytes_.data(); }

  /// Typed views; the element type must be the storage type of dtype() (throws otherwise).
  template <class T>
  std::span<T> span() {
    check_type(dtype_of<T>());
    return {reinterpret_cast<T*>(bytes_.data()), static_cast<size_t>(numel_)};
  }
  template <class T>
  std::span<const T> span() const {
    check_type(dtype_of<T>());
    return {reinterpret_cast<const T*>(bytes_.data()), static_cast<size_t>(numel_)};
  }
  template <class T>
  T* data() { return span<T>().data(); }
  template <class T>
  const T* data() const { return span<T>().data(); }

  /// Element at a flat index, converted to double (exact for every dtype but i64 beyond 2^53).
  double get(int64_t flat) const;
  /// Every element as get() returns it, with the dtype switch outside the loop (bulk reads: comparisons).
  std::vector<double> values() const;
  /// Stores `v` at a flat index, rounded to dtype() (round_to).
  void set(int64_t flat, double v);
  /// Integer element (for i32/i64/bool tensors).
  int64_t get_int(int64_t flat) const;

  /// Bitwise equality of dtype, shape and bytes.
  friend bool operator==(const Tensor& a, const Tensor& b) {
    return a.dtype_ == b.dtype_ && a.shape_ == b.shape_ && a.bytes_ == b.bytes_;
  }
  std::string describe() const;  // "bf16[3,4]"

 private:
  void check_type(DType want) const;
  void check_count(size_t n) const;
  DType dtype_ = DType::f32;
  Shape shape_;
  int64_t numel_ = 0;
  std::vector<std::byte> bytes_;
};

}  // namespace lockstep
