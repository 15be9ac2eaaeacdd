# The loader fuzzer must validate every registered op's case type: compares the ops named in
# fuzz/loader/loader_fuzzer.cpp's LOCKSTEP_LOADER_FUZZ_OPS table with cmake/ops.cmake's LOCKSTEP_OPS and
# stops the configure naming each difference. Included by the main CMakeLists.txt (so the check runs
# without clang too) and by fuzz/loader/CMakeLists.txt.
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/ops.cmake)
file(READ ${CMAKE_CURRENT_LIST_DIR}/loader_fuzzer.cpp _lf_source)
string(REGEX MATCHALL "\n  OP\\(\"[a-z_]+/[a-z_0-9]+\", [A-Za-z0-9_]+\\)" _lf_entries "${_lf_source}")
set(_lf_ops "")
foreach(_entry ${_lf_entries})
  string(REGEX MATCH "\"([a-z_]+/[a-z_0-9]+)\"" _m "${_entry}")
  list(APPEND _lf_ops ${CMAKE_MATCH_1})
endforeach()
set(_lf_missing ${LOCKSTEP_OPS})
list(REMOVE_ITEM _lf_missing ${_lf_ops})
set(_lf_extra ${_lf_ops})
list(REMOVE_ITEM _lf_extra ${LOCKSTEP_OPS})
if(_lf_missing OR _lf_extra)
  message(FATAL_ERROR "fuzz/loader/loader_fuzzer.cpp: LOCKSTEP_LOADER_FUZZ_OPS must list every op of "
                      "cmake/ops.cmake with its case type; missing: '${_lf_missing}', not an op: '${_lf_extra}'")
endif()
