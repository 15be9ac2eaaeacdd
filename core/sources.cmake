# lockstep_core's sources (relative to core/): each op's core/F/OP.cpp (cmake/ops.cmake) and the files that
# are no op's. Included by core/CMakeLists.txt and by fuzz/loader/CMakeLists.txt (the loader fuzzer
# compiles the core case types itself, with clang).
include(${CMAKE_CURRENT_LIST_DIR}/../cmake/ops.cmake)
lockstep_op_files(LOCKSTEP_CORE_SOURCES ${CMAKE_CURRENT_LIST_DIR} "<op>.cpp")
list(APPEND LOCKSTEP_CORE_SOURCES
  tensor.cpp
  model/decoder_stack.cpp       # decoder_stack's config, weights, fusions and faults (issue 11; not a registry op)
  kvcache/page_table_dump.cpp)  # page_table's case (a page-table dump file); core/kvcache/page_table.* holds
                                # the tables both sides of kv_trace build
