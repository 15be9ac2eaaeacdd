#pragma once
/// Registry entry of nsa_metadata: reference host loop (reference/metadata), single-launch device kernel
/// (device/metadata), generator (fuzz/metadata); integer outputs compare exactly.
#include "device/metadata/nsa_metadata.h"
#include "fuzz/metadata/nsa_metadata.h"
#include "oracle/op.h"
#include "reference/metadata/nsa_metadata.h"

namespace lockstep::oracle {

/// Coverage regions of the nsa_metadata generator.
inline std::vector<Region<NsaCase>> nsa_metadata_regions() {
  using C = const NsaCase&;
  auto tokens = [](C c) {
    int64_t n = 0;
    for (int64_t r = 0; r < c.bs(); ++r) n += c.qo_len(r);
    return n;
  };
  return Regions<NsaCase>()
      .values("mode", {"decode", "target_verify", "draft_extend"}, [](C c) { return std::string(enum_name(c.mode)); })
      .values("page_size", {"1", "2", "4", "16"}, [](C c) { return std::to_string(c.page_size); })
      .values("batch", {"0", "1", "2+"}, [](C c) { return c.bs() == 0 ? "0" : c.bs() == 1 ? "1" : "2+"; })
      .values("block_tokens", {"1", "128"}, [](C c) { return c.block_tokens == 1 ? "1" : c.block_tokens == 128 ? "128" : ""; })
      .when("topk_clamp=active", [](C c) {
        for (int64_t r = 0; r < c.bs(); ++r)
          if (c.qo_len(r) > 0 && c.kv_len(r) > c.topk) return true;
        return false;
      })
      .when("topk_clamp=inactive", [](C c) {
        for (int64_t r = 0; r < c.bs(); ++r)
          if (c.qo_len(r) > 0 && c.kv_len(r) > c.topk) return false;
        return c.bs() > 0;
      })
      .when("edge=zero_extend_request", [](C c) {
        if (c.mode != NsaMode::draft_extend) return false;
        for (int64_t r = 0; r < c.bs(); ++r)
          if (c.qo_len(r) == 0) return true;
        return false;
      })
      .when("edge=kv_len_equals_qo_len", [](C c) {
        for (int64_t r = 0; r < c.bs(); ++r)
          if (c.qo_len(r) > 0 && c.kv_len(r) == c.qo_len(r)) return true;
        return false;
      })
      .when("edge=zero_width_page_table", [](C c) { return c.bs() > 0 && c.width() == 0; })
      .when("edge=buffer_slack", [tokens](C c) { return c.max_tokens > tokens(c); })
      .when("edge=multiple_blocks", [tokens](C c) { return tokens(c) > c.block_tokens; })
      .build();
}

}  // namespace lockstep::oracle
