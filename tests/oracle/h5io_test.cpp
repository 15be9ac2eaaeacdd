/// Round trips and error handling of oracle/h5io (layout: fixtures/SCHEMA.md). Hand-crafted files that
/// write_file() refuses to produce (h5py-style types, hostile shapes) are made with the HDF5 C API.
#include "oracle/h5io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/attention/ragged_paged_attention.h"
#include "core/error.h"
#include "core/fields.h"
#include "core/record.h"
#include "core/tensor.h"
#include "oracle/campaign.h"
#include "oracle/h5io_isolate.h"
#include "oracle/op.h"

namespace lockstep::h5 {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------
// Fixture and helpers
// ---------------------------------------------------------------------------------------------------

/// Gives every test its own empty directory under the system temp dir, removed afterwards.
class H5IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::random_device rd;
    dir_ = fs::temp_directory_path() /
           fmt::format("lockstep_h5io_{}_{}_{:08x}", info->name(), static_cast<long>(::getpid()), rd());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  /// Names of everything in the test directory.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

/// Runs `fn` and returns the Error message it throws (fails the test when nothing is thrown).
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected lockstep::Error";
  return {};
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)

std::vector<bf16> bf16_bits(std::initializer_list<uint16_t> bits) {
  std::vector<bf16> v;
  for (uint16_t b : bits) v.push_back(bf16{b});
  return v;
}
std::vector<f16> f16_bits(std::initializer_list<uint16_t> bits) {
  std::vector<f16> v;
  for (uint16_t b : bits) v.push_back(f16{b});
  return v;
}

uint16_t bits_at(const Tensor& t, int64_t i) {
  uint16_t b;
  std::memcpy(&b, t.raw() + i * 2, 2);
  return b;
}

/// Equal as records: same names in the same order, same kinds, bitwise-equal values.
void expect_same_record(const Record& want, const Record& got, const std::string& where) {
  ASSERT_EQ(want.fields.size(), got.fields.size()) << where;
  for (size_t i = 0; i < want.fields.size(); ++i) {
    const auto& [wn, wv] = want.fields[i];
    const auto& [gn, gv] = got.fields[i];
    EXPECT_EQ(wn, gn) << where << " field " << i;
    ASSERT_EQ(wv.index(), gv.index()) << where << "/" << wn;
    if (auto* d = std::get_if<double>(&wv)) {
      EXPECT_EQ(0, std::memcmp(d, &std::get<double>(gv), sizeof(double))) << where << "/" << wn;
    } else if (auto* t = std::get_if<Tensor>(&wv)) {
      EXPECT_TRUE(*t == std::get<Tensor>(gv))
          << where << "/" << wn << ": " << t->describe() << " vs " << std::get<Tensor>(gv).describe();
    } else {
      EXPECT_TRUE(wv == gv) << where << "/" << wn;
    }
  }
}

void expect_same_dump(const Dump& want, const Dump& got) {
  EXPECT_EQ(want.kind, got.kind);
  EXPECT_EQ(want.op, got.op);
  EXPECT_EQ(want.info, got.info);
  EXPECT_EQ(want.report_json, got.report_json);
  expect_same_record(want.case_fields, got.case_fields, "/case");
  ASSERT_EQ(want.outputs.size(), got.outputs.size());
  for (size_t i = 0; i < want.outputs.size(); ++i) {
    EXPECT_EQ(want.outputs[i].first, got.outputs[i].first);
    expect_same_record(want.outputs[i].second, got.outputs[i].second, "/outputs/" + want.outputs[i].first);
  }
}

Dump minimal_dump() {
  Dump d;
  d.kind = "case";
  d.op = "test_op";
  d.case_fields.fields.emplace_back("n", int64_t{3});
  return d;
}

// ---- raw HDF5 writers for files write_file() would not produce ----

void raw_check(herr_t rc) { ASSERT_GE(rc, 0); }

void raw_attr(hid_t obj, const char* name, hid_t file_type, hid_t mem_type, const void* value,
              std::vector<hsize_t> dims = {}) {
  hid_t space =
      dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t a = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(a, 0) << name;
  raw_check(H5Awrite(a, mem_type, value));
  H5Aclose(a);
  H5Sclose(space);
}

/// Variable-length UTF-8 string attribute (what h5py writes for `attrs['x'] = 'str'`).
void raw_vlen_str_attr(hid_t obj, const char* name, const std::string& value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  const char* p = value.c_str();
  raw_attr(obj, name, t, t, &p);
  H5Tclose(t);
}

/// Fixed-length NULLPAD string attribute of exactly value.size() bytes (numpy 'S' strings).
void raw_fixed_str_attr(hid_t obj, const char* name, const std::string& value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, value.size());
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  raw_attr(obj, name, t, t, value.data());
  H5Tclose(t);
}

void raw_dataset(hid_t g, const char* name, hid_t file_type, hid_t mem_type, const std::vector<hsize_t>& dims,
                 const void* data, const char* dtype_attr = nullptr) {
  hid_t space =
      dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  ASSERT_GE(space, 0);
  hid_t d = H5Dcreate2(g, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(d, 0) << name;
  if (data != nullptr) raw_check(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  if (dtype_attr != nullptr) raw_vlen_str_attr(d, "dtype", dtype_attr);
  H5Dclose(d);
  H5Sclose(space);
}

/// h5py's bool type: an enum over int8 with FALSE = 0, TRUE = 1.
hid_t h5py_bool_type() {
  hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t f = 0, tr = 1;
  H5Tenum_insert(t, "FALSE", &f);
  H5Tenum_insert(t, "TRUE", &tr);
  return t;
}

/// Writes a lockstep file by hand: root attributes (schema `schema`, kind "case", op "test_op"), group
/// /case with default (untracked) ordering, then `fill(file, case_group)`.
template <class Fill>
void craft(const std::string& path, Fill&& fill, int64_t schema = 1) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  raw_attr(file, "lockstep_schema", H5T_STD_I64LE, H5T_NATIVE_INT64, &schema);
  raw_vlen_str_attr(file, "kind", "case");
  raw_vlen_str_attr(file, "op", "test_op");
  hid_t g = H5Gcreate2(file, "case", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(g, 0);
  fill(file, g);
  H5Gclose(g);
  raw_check(H5Fclose(file));
}

const Tensor& tensor_field(const Record& r, const std::string& name) {
  const FieldValue* v = r.find(name);
  if (v == nullptr || !std::holds_alternative<Tensor>(*v)) throw std::runtime_error("no tensor field " + name);
  return std::get<Tensor>(*v);
}

// ---------------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------------

TEST_F(H5IoTest, RoundTripsEveryDtypeAndFieldKind) {
  Dump d;
  d.kind = "dump";
  d.op = "ragged_paged_attention";
  auto& c = d.case_fields.fields;
  c.emplace_back("i_zero", int64_t{0});
  c.emplace_back("i_min", std::numeric_limits<int64_t>::min());
  c.emplace_back("i_max", std::numeric_limits<int64_t>::max());
  c.emplace_back("d_half", 0.5);
  c.emplace_back("d_neg_zero", -0.0);
  c.emplace_back("d_denorm", std::numeric_limits<double>::denorm_min());
  c.emplace_back("d_inf", -std::numeric_limits<double>::infinity());
  c.emplace_back("d_nan", std::numeric_limits<double>::quiet_NaN());
  c.emplace_back("s_empty", std::string());
  c.emplace_back("s_utf8", std::string("causal \xce\xbb \xe2\x9c\x93"));
  c.emplace_back("s_long", std::string(200000, 'x'));  // > 64 KiB: dense attribute storage
  float f32_nan;
  const uint32_t nan_bits = 0x7fc00123u;
  std::memcpy(&f32_nan, &nan_bits, 4);
  c.emplace_back("t_f32", Tensor::from<float>({2, 3}, {1.5f, -0.0f, f32_nan, 1e-45f, -3e38f, 7.0f}));
  c.emplace_back("t_bf16", Tensor::from<bf16>({6}, bf16_bits({0x3f80, 0x8000, 0x7fc1, 0xffff, 0x0001, 0xff80})));
  c.emplace_back("t_f16", Tensor::from<f16>({2, 2}, f16_bits({0x3c00, 0x8000, 0x7e01, 0x0001})));
  c.emplace_back("t_i32", Tensor::from<int32_t>(
                              {3}, {std::numeric_limits<int32_t>::min(), 0, std::numeric_limits<int32_t>::max()}));
  c.emplace_back("t_i64", Tensor::from<int64_t>(
                              {1, 2}, {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}));
  c.emplace_back("t_bool", Tensor::from<uint8_t>({4}, {0, 1, 1, 0}));
  c.emplace_back("t_rank8", Tensor(DType::i32, {1, 2, 1, 2, 1, 2, 1, 2}));

  Record reference;
  reference.fields.emplace_back("max_abs_err", 0.25);
  reference.fields.emplace_back("out", Tensor::from<float>({2}, {1.0f, 2.0f}));
  Record device;
  device.fields.emplace_back("backend", std::string("cpu"));
  device.fields.emplace_back("out", Tensor::from<float>({2}, {1.0f, 2.5f}));
  d.outputs = {{"reference", reference}, {"device", device}};
  d.info = {{"case_string", "ragged_paged_attention(num_seqs=1)"},
            {"repro_command", "lockstep run --case x.h5"},
            {"fault", "none"},
            {"backend", "cpu"},
            {"seed", "18446744073709551615"},
            {"lockstep_version", "0.1.0"}};
  d.report_json = R"({"ok": false, "first_bad": [0, 1]})";

  write_file(path("all.h5"), d);
  const Dump got = read_file(path("all.h5"));
  expect_same_dump(d, got);  // also checks creation order: scalars were written first, then tensors
}

TEST_F(H5IoTest, ReadsAttributeFieldsBeforeDatasetFields) {
  Dump d = minimal_dump();
  d.case_fields.fields.clear();
  d.case_fields.fields.emplace_back("z_tensor", Tensor::from<int32_t>({1}, {1}));
  d.case_fields.fields.emplace_back("y_int", int64_t{2});
  d.case_fields.fields.emplace_back("x_tensor", Tensor::from<int32_t>({1}, {3}));
  d.case_fields.fields.emplace_back("w_str", std::string("4"));
  write_file(path("order.h5"), d);
  std::vector<std::string> names;
  for (const auto& [n, v] : read_file(path("order.h5")).case_fields.fields) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"y_int", "w_str", "z_tensor", "x_tensor"}));
}

TEST_F(H5IoTest, RoundTripsEmptyTensors) {
  Dump d = minimal_dump();
  int k = 0;
  for (DType dt : {DType::f32, DType::bf16, DType::f16, DType::i32, DType::i64, DType::boolean}) {
    for (const Shape& s : {Shape{0}, Shape{3, 0}, Shape{0, 5, 2}}) {
      d.case_fields.fields.emplace_back(fmt::format("e{}", k++), Tensor(dt, s));
    }
  }
  write_file(path("empty.h5"), d);
  expect_same_dump(d, read_file(path("empty.h5")));
}

TEST_F(H5IoTest, OmitsDefaultConstructedTensors) {
  Dump d = minimal_dump();
  d.case_fields.fields.emplace_back("absent", Tensor());
  write_file(path("absent.h5"), d);
  const Dump got = read_file(path("absent.h5"));
  EXPECT_EQ(got.case_fields.find("absent"), nullptr);
  EXPECT_NE(got.case_fields.find("n"), nullptr);
}

TEST_F(H5IoTest, RoundTripsRpaCaseThroughRecords) {
  RpaCase c;
  c.dtype = DType::bf16;
  c.mode = MaskMode::causal;
  c.num_seqs = 1;
  c.num_q_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 8;
  c.page_size = 4;
  c.sm_scale = 1.0 / std::sqrt(8.0);
  c.soft_cap = 30.0;
  c.data_seed = 42;
  c.q = Tensor(DType::bf16, {3, 2, 8});
  c.k = Tensor(DType::bf16, {3, 1, 8});
  c.v = Tensor(DType::bf16, {3, 1, 8});
  c.kv_cache = Tensor(DType::bf16, {3, 4, 2, 8});
  for (Tensor* t : {&c.q, &c.k, &c.v, &c.kv_cache}) {
    for (int64_t i = 0; i < t->numel(); ++i) t->set(i, std::sin(0.37 * static_cast<double>(i)) * 3.0);
  }
  c.kv_lens = Tensor::from<int32_t>({1}, {5});
  c.page_indices = Tensor::from<int32_t>({2}, {2, 0});
  c.cu_q_lens = Tensor::from<int32_t>({2}, {0, 3});
  c.cu_kv_lens = Tensor::from<int32_t>({2}, {0, 8});
  ASSERT_NO_THROW(validate(c));

  Dump d;
  d.kind = "case";
  d.op = "ragged_paged_attention";
  d.case_fields = to_record(c);
  d.info = {{"case_string", canonical_string("ragged_paged_attention", c)}};
  write_file(path("rpa.h5"), d);

  const Dump got = read_file(path("rpa.h5"));
  RpaCase back;
  from_record(got.case_fields, back, path("rpa.h5") + ":/case");
  EXPECT_EQ(first_difference(c, back), "");
  EXPECT_NO_THROW(validate(back));
  EXPECT_EQ(got.info, d.info);

  // Field order survives (creation order is tracked); absent tensors are simply missing.
  std::vector<std::string> want_names, got_names;
  for (const auto& [n, v] : d.case_fields.fields) {
    if (auto* t = std::get_if<Tensor>(&v); t && t->rank() == 0 && t->numel() == 0) continue;
    want_names.push_back(n);
  }
  for (const auto& [n, v] : got.case_fields.fields) got_names.push_back(n);
  EXPECT_EQ(want_names, got_names);
}

// ---------------------------------------------------------------------------------------------------
// Files written by other tools (h5py conventions)
// ---------------------------------------------------------------------------------------------------

TEST_F(H5IoTest, ReadsH5pyStyleAttributes) {
  const std::string p = path("h5py_attrs.h5");
  craft(p, [](hid_t file, hid_t g) {
    raw_vlen_str_attr(g, "mode", "causal");
    raw_fixed_str_attr(g, "dtype", "bf16");  // NULLPAD, no terminator: all 4 bytes must survive
    float f = 0.125f;
    raw_attr(g, "sm_scale", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &f);
    int8_t small = -7;
    raw_attr(g, "num_seqs", H5T_STD_I8LE, H5T_NATIVE_INT8, &small);
    int64_t big_endian = 123456789012;
    raw_attr(g, "head_dim", H5T_STD_I64BE, H5T_NATIVE_INT64, &big_endian);
    uint64_t u = 5;
    raw_attr(g, "page_size", H5T_STD_U64LE, H5T_NATIVE_UINT64, &u);
    hid_t bt = h5py_bool_type();
    int8_t yes = 1;
    raw_attr(g, "flag", bt, bt, &yes);
    H5Tclose(bt);
    int64_t one[1] = {9};
    raw_attr(g, "one_element_array", H5T_STD_I64LE, H5T_NATIVE_INT64, one, {1});
    raw_attr(file, "seed", H5T_STD_I64LE, H5T_NATIVE_INT64, one);  // integer info attribute
  });
  const Dump d = read_file(p);
  const Record& r = d.case_fields;
  EXPECT_EQ(std::get<std::string>(*r.find("mode")), "causal");
  EXPECT_EQ(std::get<std::string>(*r.find("dtype")), "bf16");
  EXPECT_EQ(std::get<double>(*r.find("sm_scale")), 0.125);
  EXPECT_EQ(std::get<int64_t>(*r.find("num_seqs")), -7);
  EXPECT_EQ(std::get<int64_t>(*r.find("head_dim")), 123456789012);
  EXPECT_EQ(std::get<int64_t>(*r.find("page_size")), 5);
  EXPECT_EQ(std::get<int64_t>(*r.find("flag")), 1);
  EXPECT_EQ(std::get<int64_t>(*r.find("one_element_array")), 9);
  ASSERT_EQ(d.info.size(), 1u);
  EXPECT_EQ(d.info[0], (std::pair<std::string, std::string>{"seed", "9"}));
  // Untracked creation order: alphabetical.
  EXPECT_EQ(r.fields.front().first, "dtype");
}

TEST_F(H5IoTest, InfersDtypesWithoutAttribute) {
  const std::string p = path("infer.h5");
  craft(p, [](hid_t, hid_t g) {
    float f32[2] = {1.5f, -2.0f};
    raw_dataset(g, "a_f32", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {2}, f32);
    double f64[1] = {0.1};
    raw_dataset(g, "b_f64", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, {1}, f64);
    int32_t i32[2] = {-5, 7};
    raw_dataset(g, "c_i32", H5T_STD_I32BE, H5T_NATIVE_INT32, {1, 2}, i32);
    int64_t i64[1] = {-(int64_t{1} << 40)};
    raw_dataset(g, "d_i64", H5T_STD_I64LE, H5T_NATIVE_INT64, {1}, i64);
    uint8_t u8[3] = {1, 0, 1};
    raw_dataset(g, "e_u8", H5T_STD_U8LE, H5T_NATIVE_UINT8, {3}, u8);
    int16_t i16[2] = {-300, 300};
    raw_dataset(g, "f_i16", H5T_STD_I16LE, H5T_NATIVE_INT16, {2}, i16);
    uint32_t u32[1] = {4000000000u};
    raw_dataset(g, "g_u32", H5T_STD_U32LE, H5T_NATIVE_UINT32, {1}, u32);
    hid_t bt = h5py_bool_type();
    int8_t b[2] = {1, 0};
    raw_dataset(g, "h_bool", bt, bt, {2}, b);
    H5Tclose(bt);
    uint16_t half[1] = {0x3c00};  // IEEE half 1.0 (numpy float16)
    hid_t ht = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(ht, 15, 10, 5, 0, 10);
    H5Tset_size(ht, 2);
    H5Tset_ebias(ht, 15);
    raw_dataset(g, "i_f16", ht, ht, {1}, half);
    H5Tclose(ht);
  });
  const Record r = read_file(p).case_fields;
  EXPECT_TRUE(tensor_field(r, "a_f32") == Tensor::from<float>({2}, {1.5f, -2.0f}));
  EXPECT_TRUE(tensor_field(r, "b_f64") == Tensor::from<float>({1}, {0.1f}));
  EXPECT_TRUE(tensor_field(r, "c_i32") == Tensor::from<int32_t>({1, 2}, {-5, 7}));
  EXPECT_TRUE(tensor_field(r, "d_i64") == Tensor::from<int64_t>({1}, {-(int64_t{1} << 40)}));
  EXPECT_TRUE(tensor_field(r, "e_u8") == Tensor::from<uint8_t>({3}, {1, 0, 1}));
  EXPECT_TRUE(tensor_field(r, "f_i16") == Tensor::from<int64_t>({2}, {-300, 300}));
  EXPECT_TRUE(tensor_field(r, "g_u32") == Tensor::from<int64_t>({1}, {4000000000}));
  EXPECT_TRUE(tensor_field(r, "h_bool") == Tensor::from<uint8_t>({2}, {1, 0}));
  EXPECT_TRUE(tensor_field(r, "i_f16") == Tensor::from<f16>({1}, f16_bits({0x3c00})));
}

TEST_F(H5IoTest, Bf16FieldGivenAsFloatIsRoundedToNearestEven) {
  const std::string p = path("bf16_float.h5");
  craft(p, [](hid_t, hid_t g) {
    const float nanf = std::numeric_limits<float>::quiet_NaN();
    // 1 + 2^-8 is a tie -> 1.0 (even); 1 + 3*2^-8 is a tie -> 1 + 2^-6 (even); 1 + 2^-8 + 2^-12 rounds up.
    float f32[5] = {1.00390625f, 1.01171875f, 1.0041504f, -0.0f, nanf};
    raw_dataset(g, "q", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {5}, f32, "bf16");
    // As float64: 1 + 2^-8 + 2^-30 must round up (rounding through float32 first would give the tie -> 1.0).
    double f64[1] = {1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)};
    raw_dataset(g, "k", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {1}, f64, "bf16");
    float h[2] = {1.0f + std::ldexp(1.0f, -11), 65520.0f};  // f16: tie -> 1.0; overflow -> inf
    raw_dataset(g, "v", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {2}, h, "f16");
    uint16_t raw[2] = {0x7fc1, 0x8000};  // bits stay bits
    raw_dataset(g, "w", H5T_STD_U16LE, H5T_NATIVE_UINT16, {2}, raw, "bf16");
    double x[1] = {0.1};
    raw_dataset(g, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {1}, x, "f32");
  });
  const Record r = read_file(p).case_fields;
  const Tensor& q = tensor_field(r, "q");
  ASSERT_EQ(q.dtype(), DType::bf16);
  EXPECT_EQ(bits_at(q, 0), 0x3f80);
  EXPECT_EQ(bits_at(q, 1), 0x3f82);
  EXPECT_EQ(bits_at(q, 2), 0x3f81);
  EXPECT_EQ(bits_at(q, 3), 0x8000);
  EXPECT_TRUE(std::isnan(q.get(4)));
  EXPECT_EQ(bits_at(tensor_field(r, "k"), 0), 0x3f81);
  const Tensor& v = tensor_field(r, "v");
  ASSERT_EQ(v.dtype(), DType::f16);
  EXPECT_EQ(bits_at(v, 0), 0x3c00);
  EXPECT_EQ(bits_at(v, 1), 0x7c00);
  EXPECT_TRUE(tensor_field(r, "w") == Tensor::from<bf16>({2}, bf16_bits({0x7fc1, 0x8000})));
  EXPECT_TRUE(tensor_field(r, "x") == Tensor::from<float>({1}, {0.1f}));
}

// ---------------------------------------------------------------------------------------------------
// Errors name the file and the object
// ---------------------------------------------------------------------------------------------------

TEST_F(H5IoTest, MissingFile) {
  const std::string p = path("nope.h5");
  const std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p);
  EXPECT_CONTAINS(msg, "no such file");
}

TEST_F(H5IoTest, NotAnHdf5File) {
  const std::string p = path("garbage.h5");
  {
    std::ofstream out(p, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 131 + 7) & 0xff));
  }
  const std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p);
  EXPECT_CONTAINS(msg, "not an HDF5 file");
}

TEST_F(H5IoTest, DirectoryIsNotAFile) {
  const std::string msg = error_of([&] { read_file(dir_.string()); });
  EXPECT_CONTAINS(msg, "is a directory");
}

TEST_F(H5IoTest, WrongSchemaVersion) {
  const std::string p = path("schema2.h5");
  craft(
      p, [](hid_t, hid_t) {}, 2);
  const std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/lockstep_schema = 2");
  EXPECT_CONTAINS(msg, "unsupported schema version");
}

TEST_F(H5IoTest, MissingSchemaAttribute) {
  const std::string p = path("noschema.h5");
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t file = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  H5Fclose(file);
  const std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/lockstep_schema");
  EXPECT_CONTAINS(msg, "missing");
}

TEST_F(H5IoTest, RejectsRank9Dataset) {
  const std::string p = path("rank9.h5");
  craft(p, [](hid_t, hid_t g) {
    raw_dataset(g, "q", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {1, 1, 1, 1, 1, 1, 1, 1, 1}, nullptr, "f32");
  });
  const std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/q");
  EXPECT_CONTAINS(msg, "rank 9");
}

TEST_F(H5IoTest, RejectsScalarDataset) {
  const std::string p = path("rank0.h5");
  craft(p, [](hid_t, hid_t g) {
    float one = 1.0f;
    raw_dataset(g, "sm_scale", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {}, &one);
  });
  const std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/sm_scale");
  EXPECT_CONTAINS(msg, "rank-0");
}

TEST_F(H5IoTest, RejectsOversizedShapesWithoutAllocating) {
  const std::string many = path("many.h5");
  craft(many, [](hid_t, hid_t g) {  // 2^31 float elements declared, none stored
    raw_dataset(g, "q", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {hsize_t{1} << 16, hsize_t{1} << 15}, nullptr);
  });
  std::string msg = error_of([&] { read_file(many); });
  EXPECT_CONTAINS(msg, many + ":/case/q");
  EXPECT_CONTAINS(msg, "more than 2^30 elements");

  const std::string wide = path("wide.h5");
  craft(wide, [](hid_t, hid_t g) {
    raw_dataset(g, "k", H5T_STD_U8LE, H5T_NATIVE_UINT8, {(hsize_t{1} << 31) + 1, 0}, nullptr);
  });
  msg = error_of([&] { read_file(wide); });
  EXPECT_CONTAINS(msg, wide + ":/case/k");
  EXPECT_CONTAINS(msg, "dimension above 2^31");
}

TEST_F(H5IoTest, RejectsBadValuesAndTypes) {
  const std::string p = path("bad.h5");
  craft(p, [](hid_t, hid_t g) {
    uint64_t huge[2] = {1, uint64_t{1} << 63};
    raw_dataset(g, "kv_lens", H5T_STD_U64LE, H5T_NATIVE_UINT64, {2}, huge);
  });
  std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/kv_lens[1]");
  EXPECT_CONTAINS(msg, "does not fit in int64");

  craft(p, [](hid_t, hid_t g) {
    int64_t big[1] = {int64_t{1} << 40};
    raw_dataset(g, "cu_q_lens", H5T_STD_I64LE, H5T_NATIVE_INT64, {1}, big, "i32");
  });
  msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/cu_q_lens[0]");
  EXPECT_CONTAINS(msg, "out of range for i32");

  craft(p, [](hid_t, hid_t g) {
    uint8_t b[2] = {1, 2};
    raw_dataset(g, "mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, {2}, b);
  });
  msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/mask[1]");

  craft(p, [](hid_t, hid_t g) {
    int32_t i[1] = {1};
    raw_dataset(g, "q", H5T_STD_I32LE, H5T_NATIVE_INT32, {1}, i, "f32");
  });
  msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/q");
  EXPECT_CONTAINS(msg, "needs float data");

  craft(p, [](hid_t, hid_t g) {
    float f[1] = {1};
    raw_dataset(g, "q", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {1}, f, "fp8");
  });
  msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/q@dtype = fp8");

  craft(p, [](hid_t, hid_t g) {
    int64_t three[3] = {1, 2, 3};
    raw_attr(g, "num_seqs", H5T_STD_I64LE, H5T_NATIVE_INT64, three, {3});
  });
  msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/num_seqs");
  EXPECT_CONTAINS(msg, "must hold exactly one value");
}

TEST_F(H5IoTest, RejectsUnexpectedStructure) {
  const std::string p = path("structure.h5");
  craft(p, [](hid_t, hid_t g) {
    hid_t sub = H5Gcreate2(g, "nested", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(sub);
  });
  std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/nested");

  craft(p, [](hid_t, hid_t g) { raw_check(H5Lcreate_soft("/case", g, "loop", H5P_DEFAULT, H5P_DEFAULT)); });
  msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case/loop = soft link");

  craft(p, [](hid_t file, hid_t) {
    hid_t sub = H5Gcreate2(file, "extra", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(sub);
  });
  msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/extra");
  EXPECT_CONTAINS(msg, "unexpected object");
}

TEST_F(H5IoTest, RejectsTooManyAttributes) {
  const std::string p = path("attrs.h5");
  craft(p, [](hid_t, hid_t g) {
    for (int64_t i = 0; i <= kMaxMembers; ++i) {
      raw_attr(g, fmt::format("a{}", i).c_str(), H5T_STD_I64LE, H5T_NATIVE_INT64, &i);
    }
  });
  const std::string msg = error_of([&] { read_file(p); });
  EXPECT_CONTAINS(msg, p + ":/case");
  EXPECT_CONTAINS(msg, "more than 4096 attributes");
}

// ---------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------

TEST_F(H5IoTest, AtomicWriteReplacesAndLeavesNoTempFile) {
  const std::string p = path("case.h5");
  Dump a = minimal_dump();
  write_file(p, a);
  EXPECT_EQ(listing(), std::vector<std::string>{"case.h5"});

  Dump b = minimal_dump();
  b.case_fields.fields[0].second = int64_t{99};
  b.report_json = "{}";
  write_file(p, b);
  EXPECT_EQ(listing(), std::vector<std::string>{"case.h5"});
  expect_same_dump(b, read_file(p));

  // A failed write leaves the old file and no temporary behind.
  Dump bad = minimal_dump();
  bad.case_fields.fields.emplace_back("scalar", Tensor(DType::f32, {}));
  const std::string msg = error_of([&] { write_file(p, bad); });
  EXPECT_CONTAINS(msg, p + ":/case/scalar");
  EXPECT_EQ(listing(), std::vector<std::string>{"case.h5"});
  expect_same_dump(b, read_file(p));

  // Only regular files are replaced (never a directory, device or FIFO).
  fs::create_directory(path("subdir"));
  EXPECT_CONTAINS(error_of([&] { write_file(path("subdir"), a); }), "not a regular file");
  EXPECT_TRUE(fs::is_directory(path("subdir")));
  fs::remove(path("subdir"));

  // A directory that does not exist: HDF5 fails to create the temporary; nothing is left anywhere.
  const std::string missing_dir = path("no_such_dir/case.h5");
  EXPECT_CONTAINS(error_of([&] { write_file(missing_dir, a); }), missing_dir);
  EXPECT_EQ(listing(), std::vector<std::string>{"case.h5"});
}

// The op-agnostic hook for an op's own file kind (page_table registers page_table_dump): a registered kind
// is written and read like a built-in one, and the rule lists it; a kind of another op, a built-in name or
// an empty op cannot be registered.
TEST_F(H5IoTest, RegisteredFileKindIsReadAndWrittenAndListed) {
  const std::string p = path("k.h5");
  Dump d = minimal_dump();
  d.kind = "test_kind";
  EXPECT_CONTAINS(error_of([&] { write_file(p, d); }), "kind must be one of: case, dump, outputs");
  register_file_kind({"test_kind", "test_op"});
  register_file_kind({"test_kind", "test_op"});  // again: no-op
  ASSERT_NE(find_file_kind("test_kind"), nullptr);
  EXPECT_EQ(find_file_kind("test_kind")->op, "test_op");
  EXPECT_EQ(known_kinds().back(), "test_kind");
  write_file(p, d);
  expect_same_dump(d, read_file(p));
  d.kind = "other";
  const std::string msg = error_of([&] { write_file(p, d); });
  EXPECT_CONTAINS(msg, "kind must be one of: case, dump, outputs, ");  // then the registered kinds
  EXPECT_CONTAINS(msg, ", test_kind");
  EXPECT_CONTAINS(error_of([] { register_file_kind({"test_kind", "another_op"}); }), "already registered by op test_op");
  EXPECT_CONTAINS(error_of([] { register_file_kind({"dump", "test_op"}); }), "is a built-in kind");
  EXPECT_CONTAINS(error_of([] { register_file_kind({"x", ""}); }), "needs a name and an op");
  EXPECT_EQ(find_file_kind("case"), nullptr);
}

TEST_F(H5IoTest, WriteRejectsInvalidDumps) {
  const std::string p = path("x.h5");
  auto expect_rejected = [&](Dump d, const std::string& field) {
    const std::string msg = error_of([&] { write_file(p, d); });
    EXPECT_CONTAINS(msg, p + ":" + field);
    EXPECT_FALSE(fs::exists(p));
    EXPECT_TRUE(listing().empty());
  };
  Dump d = minimal_dump();
  d.kind = "inputs";
  expect_rejected(d, "/kind");
  d = minimal_dump();
  d.op = "";
  expect_rejected(d, "/op");
  d = minimal_dump();
  d.info = {{"kind", "case"}};
  expect_rejected(d, "/kind");
  d = minimal_dump();
  d.case_fields.fields.emplace_back("n", int64_t{4});
  expect_rejected(d, "/case/n");
  d = minimal_dump();
  d.case_fields.fields.emplace_back("a/b", int64_t{4});
  expect_rejected(d, "/case/a/b");
  d = minimal_dump();
  d.outputs.emplace_back("device", Record{{{"s", std::string(kMaxStringBytes + 1, 'x')}}});
  expect_rejected(d, "/outputs/device/s");
  d = minimal_dump();
  Tensor b(DType::boolean, {2});
  b.raw()[1] = std::byte{2};
  d.case_fields.fields.emplace_back("mask", b);
  expect_rejected(d, "/case/mask[1]");
}

TEST_F(H5IoTest, ConcurrentReadersAndWriters) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        Dump d = minimal_dump();
        d.case_fields.fields.emplace_back("x", Tensor::from<int32_t>({2}, {t, i}));
        const std::string p = path(fmt::format("t{}.h5", t));
        try {
          write_file(p, d);
          const Dump got = read_file(p);
          if (!(tensor_field(got.case_fields, "x") == tensor_field(d.case_fields, "x"))) ++failures;
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------------------------------
// Issue 13: declared integer ranges, isolation wire format, per-file budget
// ---------------------------------------------------------------------------------------------------

TEST(FieldRanges, EveryGeneratedCaseLoadsBackWithinTheDeclaredRanges) {
  // The ranges must never reject what lockstep itself generates (and so dumps and replays).
  for (const auto& op : oracle::registry()) {
    for (int64_t i = 0; i < 150; ++i) {
      const std::any c = oracle::campaign_case(*op, 7, i).value();
      const Record r = op->case_to_record(c);
      std::vector<std::string> names;
      for (const auto& [name, value] : r.fields) names.push_back(name);
      try {
        const std::any back = op->case_from_record(r, "gen:/case");
        check_known_fields(r, names, "gen:/case");
        EXPECT_EQ(op->case_string(back), op->case_string(c));
      } catch (const Error& e) {
        ADD_FAILURE() << op->name() << " case " << i << ": " << e.what();
        break;
      }
    }
  }
}

TEST(FieldRanges, IntegerFieldsRefuseOutOfRangeNonIntegralAndNonFiniteValues) {
  auto load = [](FieldValue v) {
    Record r;
    r.fields.emplace_back("page_size", std::move(v));
    RpaCase c;
    from_record(r, c, "f.h5:/case");
    return c.page_size;
  };
  EXPECT_EQ(load(int64_t{16}), 16);
  EXPECT_EQ(load(16.0), 16);
  EXPECT_CONTAINS(error_of([&] { load(int64_t{1} << 40); }), "f.h5:/case/page_size = 1099511627776: out of range [1, 4096]");
  EXPECT_CONTAINS(error_of([&] { load(int64_t{0}); }), "f.h5:/case/page_size = 0: out of range");
  EXPECT_CONTAINS(error_of([&] { load(std::nan("")); }), "f.h5:/case/page_size = nan: must be an integer");
  EXPECT_CONTAINS(error_of([&] { load(INFINITY); }), "page_size = inf: must be an integer");
  EXPECT_CONTAINS(error_of([&] { load(1e300); }), "page_size = 1e+300: must be an integer");
  EXPECT_CONTAINS(error_of([&] { load(9223372036854775808.0); }), "must be an integer");  // 2^63: not an int64
  EXPECT_CONTAINS(error_of([&] { load(2.5); }), "page_size = 2.5: must be an integer");
  EXPECT_CONTAINS(error_of([&] { load(std::string("4")); }), "must be an integer attribute");
}

TEST(FieldRanges, UnknownFieldsAreNamedWithTheKnownOnes) {
  Record r;
  r.fields.emplace_back("softcap", 1.0);
  RpaCase c;
  const std::string msg = error_of([&] { check_known_fields(r, field_names(c), "f.h5:/case"); });
  EXPECT_CONTAINS(msg, "f.h5:/case/softcap: unknown field (known fields: dtype, mode");
  EXPECT_CONTAINS(msg, "soft_cap");
}

TEST(ErrorText, ControlCharactersAreEscaped) {
  const Error e("f.h5:/op", "x\n\x1b[31my\xc2\x9b", "bad\r");
  EXPECT_EQ(std::string(e.what()), "f.h5:/op = x\\x0a\\x1b[31my\\u009b: bad\\x0d");
  EXPECT_EQ(escape_control(e.what()), e.what());  // idempotent
}

TEST_F(H5IoTest, IsolationWireFormatRoundTripsAndRejectsEveryTruncation) {
  Dump d = minimal_dump();
  d.case_fields.fields.emplace_back("i", int64_t{-3});
  d.case_fields.fields.emplace_back("x", 0.25);
  d.case_fields.fields.emplace_back("s", std::string("text"));
  d.case_fields.fields.emplace_back("t", Tensor::from<int32_t>({2, 2}, {1, 2, 3, 4}));
  d.case_fields.fields.emplace_back("absent", Tensor());
  d.outputs.emplace_back("reference", Record{{{"o", Tensor::from<float>({1}, {1.5f})}}});
  d.info.emplace_back("seed", "7");
  d.report_json = "{}";
  const std::string bytes = encode_dump(d);
  expect_same_dump(d, decode_dump(bytes, "f.h5"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_CONTAINS(error_of([&] { decode_dump(bytes.substr(0, n), "f.h5"); }), "f.h5: internal error: garbled");
  }
}

TEST_F(H5IoTest, IsolatedAndInProcessReadsAgreeAndErrorsCrossTheProcessBoundary) {
  Dump d = minimal_dump();
  d.case_fields.fields.emplace_back("x", Tensor::from<int64_t>({3}, {1, -2, 3}));
  write_file(path("a.h5"), d);
  ReadOptions in_process;
  in_process.isolate = false;
  expect_same_dump(read_file(path("a.h5")), read_file(path("a.h5"), in_process));
  const std::string isolated = error_of([&] { read_file(path("missing.h5")); });
  EXPECT_EQ(isolated, error_of([&] { read_file(path("missing.h5"), in_process); }));
  EXPECT_CONTAINS(isolated, "missing.h5: cannot open: no such file");
}

TEST_F(H5IoTest, BudgetIsPerFileAndCanBeRaised) {
  Dump d = minimal_dump();
  d.case_fields.fields.emplace_back("a", Tensor(DType::i32, {600}));
  d.outputs.emplace_back("reference", Record{{{"b", Tensor(DType::i32, {600})}}});
  write_file(path("b.h5"), d);
  ReadOptions o;
  o.limits.max_elements = 1000;  // each dataset fits, the two together do not
  EXPECT_CONTAINS(error_of([&] { read_file(path("b.h5"), o); }),
                  "b.h5:/outputs/reference/b = 1200 elements with this one: file exceeds its budget of 1000");
  o.limits.max_elements = 1200;
  EXPECT_EQ(tensor_field(read_file(path("b.h5"), o).outputs[0].second, "b").numel(), 600);
  o.limits.max_bytes = 1000;
  EXPECT_CONTAINS(error_of([&] { read_file(path("b.h5"), o); }), "b.h5:/case/a = ");
}

TEST_F(H5IoTest, RefusesFifosBeforeOpening) {
  ASSERT_EQ(::mkfifo(path("p.h5").c_str(), 0600), 0);
  EXPECT_CONTAINS(error_of([&] { read_file(path("p.h5")); }), "p.h5: cannot open: not a regular file");
}

TEST_F(H5IoTest, WritableDirCheck) {
  check_writable_dir(path("new/sub"));  // does not exist yet: its ancestor is writable
  EXPECT_FALSE(fs::exists(path("new")));
  std::ofstream(path("file")) << "x";
  EXPECT_CONTAINS(error_of([&] { check_writable_dir(path("file")); }), "not a directory");
  EXPECT_CONTAINS(error_of([&] { check_writable_dir("/dev/null"); }), "/dev/null: cannot use as dump directory");
}

}  // namespace
}  // namespace lockstep::h5
