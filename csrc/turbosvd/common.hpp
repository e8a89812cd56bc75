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
// Annotate whole loops (an epoch, a tile of queries), never a single dot product.
#if defined(TURBOSVD_SIMD_DISPATCH) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__x86_64__) && defined(__GLIBC__)
#define TURBOSVD_DISPATCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define TURBOSVD_DISPATCH_ENABLED 1
#else
#define TURBOSVD_DISPATCH
#define TURBOSVD_DISPATCH_ENABLED 0
#endif

#if defined(__GNUC__)
#define TURBOSVD_INLINE inline __attribute__((always_inline))
#define TURBOSVD_RESTRICT __restrict__
#else
#define TURBOSVD_INLINE inline
#define TURBOSVD_RESTRICT
#endif

namespace turbosvd {

using index_t = std::int64_t;

inline void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
}

// OpenMP shim: the package builds and runs (on one thread) without OpenMP.
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

inline bool simd_dispatch_enabled() { return TURBOSVD_DISPATCH_ENABLED != 0; }

}  // namespace turbosvd
