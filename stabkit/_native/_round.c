/* Correctly rounded float64 -> float16 and float64 -> bfloat16 conversions
 * over contiguous arrays, for the accurate tier's one rounding of a float64
 * result to its caller's format (stabkit/_native/rounding.py binds them with
 * ctypes; stabkit.floats.round_float64 calls them).
 *
 * Both round to nearest, ties to even, overflow to a signed infinity, keep the
 * sign of zero, and are bit-identical to the NumPy path they replace:
 *   float16:  NumPy's float64 -> float16 cast (npy_doublebits_to_halfbits),
 *             whose NaN is 0x7c00 | the top 10 fraction bits (1 where those
 *             are 0), sign kept, the quiet bit not forced;
 *   bfloat16: stabkit.floats.round_float64 (an exact rint on the bfloat16
 *             grid, then ml_dtypes' cast of an exact value), whose NaN is
 *             ml_dtypes' 0x7fc0 with the sign kept.
 * rounding.py checks both against the NumPy path on a probe once per process
 * (ties, subnormals, overflow, NaN payloads) before it uses them.
 *
 * Every lane computes the normal-range, subnormal-range, overflow and NaN
 * results and selects one, so that the loops vectorise (no branches, no
 * variable shifts). The subnormal-range result uses float64's own addition,
 * which rounds to nearest, ties to even, in the default rounding mode (the
 * one NumPy's own loops assume too).
 */
#include <stdint.h>
#include <string.h>

#include "_common.h"
#include "_half.h"

/* Not _common.h's CLONES: GCC 12's "arch=x86-64-v4" clone uses 512-bit
 * vectors here, twice as fast as its "avx512f" clone, which stays on 256-bit
 * ones (measured: 0.57 against 1.19 ns a float16 value in the L2 cache); the
 * same switch for the other files measured no faster (within noise, 2 runs). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && __GNUC__ >= 12
#define ROUND_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define ROUND_CLONES CLONES
#endif

#define ABS_MASK 0x7fffffffffffffffULL
#define INF_BITS 0x7ff0000000000000ULL

static inline uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double double_of(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* One value to a format with `frac` fraction bits, exponent bias `bias` and
 * least normal 2**emin (emin = 1 - bias), given as constants so that each
 * caller's loop is specialised:
 *   `a`: |x|'s bits. Where |x| is at least 2**emin, rounding float64's 52
 *   fraction bits to `frac` at bit s = 52 - frac is an integer addition of
 *   2**(s-1) - 1 plus the kept last bit (ties to even), whose carry runs into
 *   the exponent field (up to the next binade, or past the largest finite
 *   value); shifted down, that is (float64 exponent << frac) | fraction, and
 *   rebiasing the exponent gives the format's bits.
 *   Below 2**emin the format's spacing is 2**(emin - frac) everywhere, and
 *   |x| + 2**(emin - frac + 52) lies in a binade of float64 whose spacing is
 *   that: float64's addition rounds |x| to the subnormal grid, ties to even,
 *   and the sum's bits less the constant's are the format's bits (2**frac,
 *   the least normal's, where |x| rounds up to 2**emin). */
#define NARROW_ROUND(x, frac, bias, magic, nan_bits)                                                           \
    ({                                                                                                         \
        const uint64_t u_ = bits_of(x), a_ = u_ & ABS_MASK;                                                     \
        const unsigned s_ = 52 - (frac);                                                                       \
        const uint64_t r_ = (a_ + ((1ULL << (s_ - 1)) - 1) + ((a_ >> s_) & 1)) >> s_;                           \
        const uint64_t normal_ = r_ - ((uint64_t)(1023 - (bias)) << (frac));                                    \
        const uint64_t sub_ = bits_of(double_of(a_) + (magic)) - bits_of(magic);                                \
        /* the least normal's bits, and the first exponent past the largest finite one */                     \
        const uint64_t min_normal_ = (uint64_t)(1023 + 1 - (bias)) << 52;                                       \
        const uint64_t overflow_ = (uint64_t)(1023 + (bias) + 1) << (frac);                                     \
        const uint64_t inf_ = (uint64_t)(2 * (bias) + 1) << (frac);                                             \
        uint64_t m_ = a_ < min_normal_ ? sub_ : normal_;                                                       \
        m_ = r_ >= overflow_ ? inf_ : m_; /* past the largest finite value, and infinities */                  \
        m_ = a_ > INF_BITS ? (nan_bits) : m_;                                                                  \
        (uint16_t)(((u_ >> 48) & 0x8000) | m_);                                                                \
    })

/* float16: 10 fraction bits, bias 15, subnormal spacing 2**-24 (magic 2**28).
 * A NaN keeps its top 10 fraction bits, or gets 1 where those are all 0 (so
 * that it stays a NaN), as NumPy's cast does. */
static inline uint16_t to_float16(double x)
{
    const uint64_t top = (bits_of(x) >> 42) & 0x3ff;
    return NARROW_ROUND(x, 10, 15, 0x1p28, 0x7c00 | (top ? top : 1));
}

/* bfloat16: 7 fraction bits, bias 127, subnormal spacing 2**-133 (magic
 * 2**-81); every NaN is the quiet 0x7fc0, with its sign, as ml_dtypes' cast
 * gives it. */
static inline uint16_t to_bfloat16(double x)
{
    return NARROW_ROUND(x, 7, 127, 0x1p-81, 0x7fc0);
}

EXPORT ROUND_CLONES void round_float16(const double *restrict x, int64_t n, uint16_t *restrict out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = to_float16(x[i]);
}

EXPORT ROUND_CLONES void round_bfloat16(const double *restrict x, int64_t n, uint16_t *restrict out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = to_bfloat16(x[i]);
}

/* The other way, exactly: n float16 (bf: bfloat16) values widened to float64
 * by _bce_probs.c's stabkit_widen16 (_half.h's branch-free forms), for the
 * accurate tier's blocks of 16-bit rows. rounding.py compares it with NumPy's
 * and ml_dtypes' astype over all 65,536 bit patterns before it uses it. */
EXPORT void widen16(const uint16_t *h, int64_t n, int bf, double *out)
{
    for (int64_t i = 0; i < n; i += 1 << 30) {
        int m = (int)(n - i < (1 << 30) ? n - i : (1 << 30));
        stabkit_widen16((const char *)(h + i), 2, bf, out + i, m);
    }
}
