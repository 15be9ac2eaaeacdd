# The registered ops, as family/op: the one list every layer's sources come from. Each layer adds the files
# an op has under its name (lockstep_op_files below): core/F/OP.cpp, reference/F/OP.cpp, device/F/OP.cpp
# (and device/F/OP.cu when CUDA is on), fuzz/F/OP.cpp, oracle/F/OP.cpp, tests/F/OP_{test,props,faults}.cpp;
# files that are not an op's (core/tensor.cpp, oracle/campaign.cpp, ...) are listed by their layer.
# Adding an op = its files + one entry here + its registry row (oracle). After adding a file to an existing
# op, re-run cmake (a new entry here re-runs it by itself).
set(LOCKSTEP_OPS
  attention/ragged_paged_attention
  attention/rope
  kvcache/kv_trace
  kvcache/pool_sizing
  kvcache/page_table
  kvcache/kv_sharing
  spec/spec_decode
  metadata/segment_seqlens_offsets
  metadata/nsa_metadata
  moe/moe_routing
  norm/rmsnorm
  norm/qkv_rmsnorm
  activation/gelu_tanh_mul)

# Every op's case type is declared in core/F/OP.h: an entry without one is a typo, not an op.
foreach(_op ${LOCKSTEP_OPS})
  if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/../core/${_op}.h)
    message(FATAL_ERROR "cmake/ops.cmake: ${_op} has no core/${_op}.h (is the family/op name right?)")
  endif()
endforeach()

# lockstep_op_files(<out> <dir> <pattern>...): for each op F/OP and each pattern, the path "<pattern>" with
# "<op>" replaced by F/OP, relative to <dir>, when that file exists. E.g. lockstep_op_files(srcs
# ${CMAKE_CURRENT_SOURCE_DIR} "<op>.cpp") -> attention/ragged_paged_attention.cpp ...
function(lockstep_op_files out dir)
  set(files "")
  foreach(op ${LOCKSTEP_OPS})
    foreach(pattern ${ARGN})
      string(REPLACE "<op>" "${op}" f "${pattern}")
      if(EXISTS ${dir}/${f})
        list(APPEND files ${f})
      endif()
    endforeach()
  endforeach()
  set(${out} ${files} PARENT_SCOPE)
endfunction()
