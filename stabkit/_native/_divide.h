/* A row of correctly rounded quotients a[j] / b by one divisor, without a
 * division instruction per entry where the processor has fused
 * multiply-adds (included by _rows.c before _wide.h, whose float64 softmax
 * divides each term by the row's sum; after _common.h).
 *
 * A vector division costs several times a multiply-add, so the quotient is
 * formed from the reciprocal y = RN(1 / b), computed once, by Markstein's
 * correction (Markstein 1990; see Muller et al., Handbook of Floating-Point
 * Arithmetic, on division with an FMA). With split_sums_at (_rows.c) it took
 * the 1000x1000 float64 softmax from 0.77x to 0.90x PyTorch's one thread
 * (benchmarks/RESULTS.md):
 *
 *   q0 = RN(a y)                  within 1.5 ulps of a / b (y carries 2^-53);
 *   q1 = RN(q0 + RN(a - b q0) y)  within 0.5 ulp plus 2^-51 of one: faithful;
 *   q2 = RN(q1 + (a - b q1) y)    = RN(a / b), the theorem's conclusion for a
 *                                 faithful q1 and y within 2^-53 of 1 / b,
 *
 * each residual by one fma. That a - b q1 is exact (so the theorem applies)
 * needs the exponents of b and q1 to sum to at least -970, which
 * a >= 2^-967 gives, and the quotients must be normal numbers far from
 * overflow: a row is taken only where the bounds its caller knows put every
 * entry in [2^-967, 2^1020) and every quotient in [2^-966, 2^1019], or
 * the entry at +0 (a masked term: q0, both residuals and both sums are +0,
 * the quotient's bits); any other row (tiny terms, NaNs, infinities) is
 * divided entry by entry.
 * Either way every entry is the IEEE quotient, the bits np.divide gives, on
 * every processor; only the time differs. */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
/* compiled for AVX-512 and for AVX2 with FMA (and a baseline that no caller
 * reaches: quotients_fma runs only where the processor has FMA) */
#define FMA_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#define HAVE_FMA() __builtin_cpu_supports("fma")
#elif defined(__aarch64__)
#define FMA_CLONES
#define HAVE_FMA() 1
#else
#define FMA_CLONES
#define HAVE_FMA() 0
#endif

/* out = RN(a[j] / b) for j < n, into o32 (rounded once more to float32) or
 * o64, the other NULL, by Markstein's q2: for b positive and finite and
 * every a[j] in [2^-967, 2^1020) with a[j] / b in [2^-966, 2^1019], or
 * +0 (the caller checks this for the whole row; see quotients). */
HIDDEN NOINLINE FMA_CLONES void quotients_fma(const double *a, double b, int64_t n, float *o32, double *o64)
{
    const double y = 1.0 / b;
    for (int64_t j = 0; j < n; j++) {
        const double aj = a[j];
        double q = aj * y;
        q = __builtin_fma(__builtin_fma(-q, b, aj), y, q);
        q = __builtin_fma(__builtin_fma(-q, b, aj), y, q);
        if (o64)
            o64[j] = q;
        else
            o32[j] = (float)q;
    }
}

/* The same quotients for a row whose entries all lie in [lo, hi], lo > 0,
 * or are +0 (bounds the caller knows without reading the row): by quotients_fma where
 * the processor has FMA and the bounds keep every entry and quotient in
 * its range (returns 1), else one division each (returns 0). */
static FORCE_INLINE int quotients(const double *a, double b, int64_t n, double lo, double hi, float *o32,
                                  double *o64)
{
    if (HAVE_FMA() && lo >= 0x1p-967 && hi < 0x1p1020 && lo / b >= 0x1p-966 && hi / b <= 0x1p1019) {
        quotients_fma(a, b, n, o32, o64);
        return 1;
    }
    for (int64_t j = 0; j < n; j++) {
        if (o64)
            o64[j] = a[j] / b;
        else
            o32[j] = (float)(a[j] / b);
    }
    return 0;
}
