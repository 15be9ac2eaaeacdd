// Golden vectors of shared/spec/attention-metadata.md §1.7 (delimiter 99) and decisions 1–2.
#include <gtest/gtest.h>

#include "core/error.h"
#include "reference/attention/multi_item.h"

using namespace lockstep;
using namespace lockstep::reference;

namespace {
std::vector<int32_t> rows_to_mask(const std::vector<std::string>& rows) {
  std::vector<int32_t> m;
  for (const auto& r : rows)
    for (char ch : r) m.push_back(ch == '1');
  return m;
}
void expect_error(const std::vector<int32_t>& tokens, const std::string& needle) {
  try {
    multi_item_layout(tokens, 99, 3);
    FAIL() << "expected an error containing " << needle;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_NE(what.find("request[3]"), std::string::npos) << what;  // names the request
  }
}
}  // namespace

TEST(MultiItem, GoldenB_SegmentLayoutAndDenseMask) {
  const std::vector<int32_t> t{10, 11, 99, 21, 22, 99, 31, 99};
  const auto l = multi_item_layout(t, 99);
  EXPECT_EQ(l.prefix_end, 3);
  EXPECT_EQ(l.row_seg_starts, (std::vector<int32_t>{0, 0, 0, 3, 3, 3, 6, 6}));
  EXPECT_EQ(multi_item_dense_mask(t, 99),
            rows_to_mask({"10000000", "11000000", "11100000", "11110000", "11111000", "11111100", "11100010",
                          "11100011"}));
}

TEST(MultiItem, GoldenA_PositionsResetPerItem) {
  EXPECT_EQ(multi_item_layout(std::vector<int32_t>{10, 11, 99, 21, 22, 99, 31, 99}, 99).positions,
            (std::vector<int32_t>{0, 1, 2, 3, 4, 2, 3, 2}));
}

TEST(MultiItem, GoldenC_Isolation) {
  const std::vector<int32_t> t{10, 11, 99, 21, 99, 31, 99};
  const auto l = multi_item_layout(t, 99);
  EXPECT_EQ(l.prefix_end, 3);
  EXPECT_EQ(l.row_seg_starts, (std::vector<int32_t>{0, 0, 0, 3, 3, 5, 5}));
  EXPECT_EQ(multi_item_dense_mask(t, 99),
            rows_to_mask({"1000000", "1100000", "1110000", "1111000", "1111100", "1110010", "1110011"}));
}

TEST(MultiItem, GoldenD_EmptyItemIsOneTokenSegment) {
  const std::vector<int32_t> t{10, 11, 99, 99, 31, 99};
  const auto l = multi_item_layout(t, 99);
  EXPECT_EQ(l.prefix_end, 3);
  EXPECT_EQ(l.row_seg_starts, (std::vector<int32_t>{0, 0, 0, 3, 4, 4}));
  EXPECT_EQ(multi_item_dense_mask(t, 99), rows_to_mask({"100000", "110000", "111000", "111100", "111010", "111011"}));
}

TEST(MultiItem, CausalExtendMaskWithPrefix) {
  EXPECT_EQ(causal_extend_mask(3, 5), rows_to_mask({"11100", "11110", "11111"}));
  EXPECT_THROW(causal_extend_mask(5, 3), Error);
}

TEST(MultiItem, MalformedInputIsRejectedNamingTheRequest) {
  expect_error({10, 11, 12, 13}, "must contain delimiter token 99");
  expect_error({99, 1, 2, 99}, "non-empty query prefix");
  expect_error({10, 11, 99, 21, 22}, "at least two delimiters");
  expect_error({10, 11, 99, 21, 22, 99, 31, 32}, "after the last delimiter");
}

TEST(MultiItem, SegmentMetadataIsLinearDenseIsQuadratic) {
  EXPECT_LE(segment_metadata_bytes(32768), 33 * segment_metadata_bytes(1024));
  EXPECT_EQ(dense_mask_bytes(32768) / dense_mask_bytes(1024), 1024);
}
