// symeig.hpp: eigenvectors of a small dense symmetric matrix (Householder tridiagonalisation
// then implicit QL), for the fold-in's rotation (foldin.hpp).
//
// Algorithm: the classic pair (Householder reduction of the matrix to tridiagonal form,
// accumulating the orthogonal transformation; then the QL algorithm with implicit Wilkinson
// shifts on the tridiagonal matrix, applying every plane rotation to the accumulated
// vectors), as in EISPACK's tred2/tql2. Every step applies Householder reflections or plane
// rotations to the vectors, so the result is orthogonal to rounding even if the QL sweeps
// stop early (a cap of 60 sweeps per eigenvalue; never reached on a well-scaled matrix).
// Parallel strategy: none (k <= a few hundred: O(k^3), ~milliseconds at k = 100).
// Determinism: a fixed sequence of operations on the input.
// Cost: ~(4/3 + 3) k^3 flops, O(k^2) memory (the caller's).
#pragma once

#include <cmath>

#include "common.hpp"

namespace turbosvd {

// On input `a` (n x n, row-major) holds a symmetric matrix (both triangles); `d` and `e`
// have n entries of scratch. On output the rows of `a` are orthonormal eigenvectors
// (row i belongs to d[i]; eigenvalues unsorted). Never throws.
TURBOSVD_INLINE void symmetric_eigenvectors(double* a, index_t n, double* d, double* e) {
    if (n <= 0) return;
    auto A = [&](index_t i, index_t j) -> double& { return a[i * n + j]; };
    // Householder reduction to tridiagonal form (tred2), accumulating Q in a.
    for (index_t i = n - 1; i >= 1; --i) {
        const index_t l = i - 1;
        double h = 0.0, scale = 0.0;
        if (l > 0) {
            for (index_t k = 0; k <= l; ++k) scale += std::fabs(A(i, k));
            if (scale == 0.0) {
                e[i] = A(i, l);
            } else {
                for (index_t k = 0; k <= l; ++k) {
                    A(i, k) /= scale;
                    h += A(i, k) * A(i, k);
                }
                double f = A(i, l);
                double g = f >= 0.0 ? -std::sqrt(h) : std::sqrt(h);
                e[i] = scale * g;
                h -= f * g;
                A(i, l) = f - g;
                f = 0.0;
                for (index_t j = 0; j <= l; ++j) {
                    A(j, i) = A(i, j) / h;
                    g = 0.0;
                    for (index_t k = 0; k <= j; ++k) g += A(j, k) * A(i, k);
                    for (index_t k = j + 1; k <= l; ++k) g += A(k, j) * A(i, k);
                    e[j] = g / h;
                    f += e[j] * A(i, j);
                }
                const double hh = f / (h + h);
                for (index_t j = 0; j <= l; ++j) {
                    f = A(i, j);
                    e[j] = g = e[j] - hh * f;
                    for (index_t k = 0; k <= j; ++k) A(j, k) -= f * e[k] + g * A(i, k);
                }
            }
        } else {
            e[i] = A(i, l);
        }
        d[i] = h;
    }
    d[0] = 0.0;
    e[0] = 0.0;
    for (index_t i = 0; i < n; ++i) {
        const index_t l = i - 1;
        if (d[i] != 0.0) {
            for (index_t j = 0; j <= l; ++j) {
                double g = 0.0;
                for (index_t k = 0; k <= l; ++k) g += A(i, k) * A(k, j);
                for (index_t k = 0; k <= l; ++k) A(k, j) -= g * A(k, i);
            }
        }
        d[i] = A(i, i);
        A(i, i) = 1.0;
        for (index_t j = 0; j <= l; ++j) A(j, i) = A(i, j) = 0.0;
    }
    // Now a = Q (columns: the basis of the tridiagonal form). Transpose it so that each
    // vector is a row: the rotations below then run over contiguous rows.
    for (index_t i = 0; i < n; ++i)
        for (index_t j = i + 1; j < n; ++j) {
            const double t = A(i, j);
            A(i, j) = A(j, i);
            A(j, i) = t;
        }
    // Implicit QL on the tridiagonal matrix (tql2 / tqli), rotating the rows of a.
    for (index_t i = 1; i < n; ++i) e[i - 1] = e[i];
    e[n - 1] = 0.0;
    for (index_t l = 0; l < n; ++l) {
        int iter = 0;
        index_t m;
        do {
            for (m = l; m < n - 1; ++m) {
                const double dd = std::fabs(d[m]) + std::fabs(d[m + 1]);
                if (std::fabs(e[m]) <= 1e-15 * dd) break;
            }
            if (m == l) break;
            if (iter++ == 60) break;  // never on a well-scaled matrix; a stays orthogonal
            double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            double r = std::hypot(g, 1.0);
            g = d[m] - d[l] + e[l] / (g + (g >= 0.0 ? std::fabs(r) : -std::fabs(r)));
            double s = 1.0, c = 1.0, p = 0.0;
            index_t i = m - 1;
            for (; i >= l; --i) {
                double f = s * e[i];
                const double b = c * e[i];
                e[i + 1] = (r = std::hypot(f, g));
                if (r == 0.0) {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                d[i + 1] = g + (p = s * r);
                g = c * r - b;
                double* TURBOSVD_RESTRICT zi = a + i * n;
                double* TURBOSVD_RESTRICT zj = a + (i + 1) * n;
                for (index_t k = 0; k < n; ++k) {
                    f = zj[k];
                    zj[k] = s * zi[k] + c * f;
                    zi[k] = c * zi[k] - s * f;
                }
            }
            if (r == 0.0 && i >= l) continue;
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        } while (m != l);
    }
}

}  // namespace turbosvd
