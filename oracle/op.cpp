#include "oracle/op.h"

#include "core/error.h"

namespace lockstep::oracle {

const std::vector<std::unique_ptr<Op>>& registry() {
  static const std::vector<std::unique_ptr<Op>> ops = [] {
    std::vector<std::unique_ptr<Op>> v;
    v.push_back(make_ragged_paged_attention_op());
    v.push_back(make_kv_trace_op());
    v.push_back(make_pool_sizing_op());
    v.push_back(make_page_table_op());
    v.push_back(make_spec_decode_op());
    v.push_back(make_segment_seqlens_offsets_op());
    v.push_back(make_nsa_metadata_op());
    return v;
  }();
  return ops;
}

const Op& find_op(const std::string& name) {
  std::string known;
  for (const auto& op : registry()) {
    if (op->name() == name) return *op;
    known += (known.empty() ? "" : ", ") + op->name();
  }
  throw Error("--op", name, "unknown op (known: " + known + ")");
}

}  // namespace lockstep::oracle
