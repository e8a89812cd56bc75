// common.hpp: shared helpers for the turbosvd kernels.
//
// Plain C++17 with no Python headers. Every kernel takes raw pointers plus sizes, is
// templated on the real type, and reports bad arguments by throwing
// std::invalid_argument (the Cython shims declare the kernels `except +`, so these
// become ValueError in Python).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

// Runtime SIMD dispatch: GCC clones the annotated function for AVX-512 (x86-64-v4),
// AVX2+FMA (x86-64-v3) and the baseline, and an ifunc resolver picks one at load time.
// Only on x86-64 glibc with GCC (musl has no ifunc; clang's arch= strings are untested).
// Annotate whole loops (an epoch, a tile of queries), never a single dot product, and
// write each dispatched function once, as a template on the real type.
// Two rules for every TURBOSVD_DISPATCH function:
//  - It never throws, and is declared noexcept: GCC treats a call through a target_clones
//    ifunc as nothrow, so an exception (std::invalid_argument, std::bad_alloc from a
//    container) would call std::terminate and abort the interpreter. Validation and
//    allocation happen in a plain wrapper before the call; errors found inside are returned
//    as a value and turned into an exception by the wrapper after it.
//  - Its `omp parallel` region is written in its own body. GCC outlines a parallel region
//    before inlining and clones the outlined body together with its parent; a region inside
//    a helper inlined into the clone would be compiled for the baseline instruction set only.
#if defined(TURBOSVD_SIMD_DISPATCH) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__x86_64__) && defined(__GLIBC__)
#define TURBOSVD_DISPATCH \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define TURBOSVD_DISPATCH_ENABLED 1
#else
#define TURBOSVD_DISPATCH
#define TURBOSVD_DISPATCH_ENABLED 0
#endif

// OpenMP directives that vanish in a build without OpenMP (which then runs on one thread):
// TURBOSVD_OMP(simd) is `#pragma omp simd`, TURBOSVD_OMP_FOR(schedule(static)) is
// `#pragma omp for schedule(static)` (the loop directives have their own names so that
// clang-format, told in .clang-format that these are statements, leaves the loops alone).
// `omp simd` only asks for vectorisation of loops whose order is fixed in the source, or for
// an explicit reduction; without OpenMP those loops stay correct, just scalar.
#define TURBOSVD_PRAGMA(...) _Pragma(#__VA_ARGS__)
#ifdef _OPENMP
#define TURBOSVD_OMP(...) TURBOSVD_PRAGMA(omp __VA_ARGS__)
#else
#define TURBOSVD_OMP(...)
#endif
#define TURBOSVD_OMP_FOR(...) TURBOSVD_OMP(for __VA_ARGS__)
#define TURBOSVD_OMP_PARALLEL_FOR(...) TURBOSVD_OMP(parallel for __VA_ARGS__)

#if defined(__GNUC__)
#define TURBOSVD_INLINE inline __attribute__((always_inline))
#define TURBOSVD_RESTRICT __restrict__
#define TURBOSVD_PREFETCH(address) __builtin_prefetch(address)
#else
#define TURBOSVD_INLINE inline
#define TURBOSVD_RESTRICT
#define TURBOSVD_PREFETCH(address) ((void)(address))
#endif

namespace turbosvd {

using index_t = std::int64_t;

inline void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
}

inline void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
}

// OpenMP queries, with their one-thread answers in a build without OpenMP.
inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Threads in the current team (1 outside a parallel region).
inline int team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

inline bool simd_dispatch_enabled() {
    return TURBOSVD_DISPATCH_ENABLED != 0;
}

}  // namespace turbosvd
