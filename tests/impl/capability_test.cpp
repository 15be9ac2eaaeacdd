// Capabilities of external implementations (oracle/impl.h): what a declared constraint accepts, its text
// (the summary line), and the poison lockstep fills a plugin's outputs with.
#include <cmath>

#include <gtest/gtest.h>

#include "core/norm/rmsnorm.h"
#include "oracle/impl.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {
Record record(FieldValue v, const std::string& name = "f") {
  Record r;
  r.fields.emplace_back(name, std::move(v));
  return r;
}
}  // namespace

TEST(ImplCapability, IntegerValuesAndRange) {
  Capability c{"f", Capability::int_field, {"64", "128"}, false, 0, -1, {}};
  EXPECT_TRUE(c.accepts(record(int64_t{64})));
  EXPECT_TRUE(c.accepts(record(int64_t{128})));
  EXPECT_FALSE(c.accepts(record(int64_t{7})));
  EXPECT_FALSE(c.accepts(record(int64_t{64}, "other")));  // the field is absent
  EXPECT_EQ(c.text(), "f in {64,128}");
  Capability r{"f", Capability::int_field, {}, true, 1, 8, {}};
  EXPECT_TRUE(r.accepts(record(int64_t{1})));
  EXPECT_TRUE(r.accepts(record(int64_t{8})));
  EXPECT_FALSE(r.accepts(record(int64_t{9})));
  EXPECT_FALSE(r.accepts(record(int64_t{0})));
  EXPECT_EQ(r.text(), "f in [1, 8]");
}

TEST(ImplCapability, EnumAndReal) {
  Capability e{"dtype", Capability::enum_field, {"f32"}, false, 0, -1, {}};
  EXPECT_TRUE(e.accepts(record(std::string("f32"), "dtype")));
  EXPECT_FALSE(e.accepts(record(std::string("bf16"), "dtype")));
  EXPECT_EQ(e.text(), "dtype in {f32}");
  Capability d{"f", Capability::real_field, {}, true, -1, 1, {}};
  EXPECT_TRUE(d.accepts(record(0.5)));
  EXPECT_FALSE(d.accepts(record(1.5)));
}

TEST(ImplCapability, TensorDtypeAndElementCount) {
  Capability t{"q", Capability::tensor_field, {"f32"}, true, 0, 6, {}};
  EXPECT_TRUE(t.accepts(record(Tensor(DType::f32, {2, 3}), "q")));
  EXPECT_FALSE(t.accepts(record(Tensor(DType::bf16, {2, 3}), "q")));
  EXPECT_FALSE(t.accepts(record(Tensor(DType::f32, {2, 4}), "q")));
  EXPECT_TRUE(t.accepts(record(Tensor(), "q")));  // an empty tensor has no dtype to restrict
  EXPECT_EQ(t.text(), "q dtype in {f32}, numel in [0, 6]");
}

TEST(ImplCapability, TensorElementProperties) {
  auto tensor = [](DType dt, std::vector<int64_t> shape, std::vector<double> v) {
    Tensor t(dt, std::move(shape));
    for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
    return t;
  };
  const double inf = INFINITY, nan = NAN;
  Capability finite{"g", Capability::tensor_field, {}, false, 0, -1, {"finite"}};
  EXPECT_TRUE(finite.accepts(record(tensor(DType::bf16, {2, 2}, {1, -2, 0, 3}), "g")));
  EXPECT_FALSE(finite.accepts(record(tensor(DType::bf16, {2, 2}, {1, -2, inf, 3}), "g")));
  EXPECT_FALSE(finite.accepts(record(tensor(DType::f32, {2, 2}, {1, -2, 0, nan}), "g")));
  EXPECT_TRUE(finite.accepts(record(tensor(DType::i32, {2}, {1, 1}), "g")));
  EXPECT_EQ(finite.text(), "g elements finite");
  Capability distinct{"g", Capability::tensor_field, {"f32"}, false, 0, -1, {"finite", "distinct"}};
  EXPECT_TRUE(distinct.accepts(record(tensor(DType::f32, {2, 3}, {1, 2, 3, 1, 2, 3}), "g")));  // rows apart
  EXPECT_FALSE(distinct.accepts(record(tensor(DType::f32, {2, 3}, {1, 2, 3, 4, 5, 4}), "g")));
  EXPECT_FALSE(distinct.accepts(record(tensor(DType::f32, {1, 3}, {0.0, 1, -0.0}), "g")));  // +0 == -0
  EXPECT_FALSE(distinct.accepts(record(tensor(DType::bf16, {1, 3}, {0.0, 1, 2}), "g")));     // dtype
  EXPECT_EQ(distinct.text(), "g dtype in {f32}, elements finite and distinct per row");
  Capability nans{"g", Capability::tensor_field, {}, false, 0, -1, {"distinct"}};
  EXPECT_TRUE(nans.accepts(record(tensor(DType::f32, {3}, {nan, 1, inf}), "g")));
  EXPECT_FALSE(nans.accepts(record(tensor(DType::f32, {3}, {nan, 1, -nan}), "g")));  // NaNs are one value
  EXPECT_TRUE(nans.accepts(record(Tensor(), "g")));
}

TEST(ImplCall, OutputsArePoisoned) {
  oracle::detail::ImplCall call(device::ImplMemory::host);
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    Tensor like(dt, {3});
    const lockstep_arg a = call.tensor("out", like, true);
    const Tensor back = call.download(a, like);
    for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(back.get(i))) << dtype_name(dt);
  }
  Tensor ints(DType::i32, {2});
  const Tensor back = call.download(call.tensor("ids", ints, true), ints);
  EXPECT_EQ(back.get_int(0), static_cast<int32_t>(0xa5a5a5a5u));  // not 0, not -1: never a valid id or offset
  const Tensor empty;
  EXPECT_EQ(call.download(call.tensor("none", empty, true), empty), empty);
}

// Record transport (a Python worker): an output the reference left absent (a default Tensor - e.g. rmsnorm's
// residual_out outside add_rmsnorm) is not asked for (a worker cannot send a rank-0 tensor), and the device side
// keeps it absent; the outputs the reference produced are asked for with its dtype and shape. (Session 20: every
// rmsnorm case failed a spec-faithful worker with "output residual_out missing (expected f32 [])".)
TEST(ImplRecordTransport, AbsentReferenceOutputsAreNotAskedFor) {
  RmsNormOutputs ref;
  ref.out = Tensor(DType::bf16, {2, 3});
  oracle::detail::OutputSpecs specs;
  ref.fields(specs);
  ASSERT_EQ(specs.specs.size(), 1u);
  EXPECT_EQ(specs.specs[0].name, "out");
  EXPECT_EQ(specs.specs[0].shape, (std::vector<int64_t>{2, 3}));
  Record got;
  got.fields.emplace_back("out", Tensor(DType::bf16, {2, 3}));
  EXPECT_TRUE(oracle::detail::check_returned(got, specs.specs).empty());
  RmsNormOutputs dev = ref;
  oracle::detail::RecordFill fill{got};
  dev.fields(fill);
  EXPECT_EQ(dev.out.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(dev.residual_out.rank(), 0u);
  EXPECT_TRUE(dev.residual_out.empty());
  // A worker that returns an absent output anyway is told it was not asked for.
  got.fields.emplace_back("residual_out", Tensor(DType::bf16, {2, 3}));
  const auto problems = oracle::detail::check_returned(got, specs.specs);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("residual_out, which is not an output asked for"), std::string::npos);
}
