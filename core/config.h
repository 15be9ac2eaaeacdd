#pragma once
/// Host/device qualifiers shared by every single-source file. Kernel bodies, index math, dtype
/// conversion and mask predicates are written once with LS_HD and compiled by nvcc for the GPU and
/// by the host compiler for the CPU backend and the unit tests.
#if defined(__CUDACC__)
#define LS_HD __host__ __device__
#define LS_DEVICE_CODE 1
#else
#define LS_HD
#define LS_DEVICE_CODE 0
#endif
