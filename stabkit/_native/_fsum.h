/* math.fsum's value, the exact sum of doubles rounded once to the nearest
 * (ties to even), for the C kernels (included by _rows.c; _near_zero.h's
 * sums). fsum's result is one number whatever the method, so either of the
 * two below gives fsum's bits; tests/test_native_near_zero.py compares both
 * with math.fsum.
 *
 * - fixed point (acc_*): every double as an integer multiple of 2^-1074,
 *   added into 32-bit digits held in 64-bit limbs (no carry while adding:
 *   each limb takes up to 2^31 additions), then the carries propagated and
 *   the top 65 to 96 bits rounded with a sticky bit for the rest. About ten
 *   integer operations an addition, none depending on the previous one. It
 *   takes doubles below 2^60 in magnitude and results that are normal
 *   numbers (or 0), and says when it cannot;
 * - Shewchuk's expansion (exact_add, exact_round): the general method, one
 *   Fast2Sum per partial per addition, each depending on the last.
 */

#define ACC_LIMBS 40 /* 1280 bits: 2^-1074 up to 2^60 and room for the carries */

typedef struct {
    int64_t limb[ACC_LIMBS];
    int ok;     /* 0 once a value was out of range */
    int lo, hi; /* the limbs written: lo..hi (none while hi < lo) */
} acc_t;

static FORCE_INLINE void acc_init(acc_t *a)
{
    memset(a->limb, 0, sizeof a->limb);
    a->ok = 1;
    a->lo = ACC_LIMBS, a->hi = -1;
}

/* x (finite, |x| < 2^60) added exactly: its significand m (53 bits, or 52
 * for a subnormal) placed at bit p = exponent + 1074 of the fixed point, as
 * three 32-bit digits */
static FORCE_INLINE void acc_add(acc_t *a, double x)
{
    uint64_t b;
    memcpy(&b, &x, 8);
    const int E = (int)((b >> 52) & 0x7ff);
    uint64_t m = b & 0xfffffffffffffull;
    a->ok &= E < 1023 + 60;
    const int p = E ? E - 1 : 0;
    m = E && E < 1023 + 60 ? m | (1ull << 52) : (E ? 0 : m);
    const int L = (p >> 5) < ACC_LIMBS - 3 ? p >> 5 : 0, s = p & 31;
    const uint64_t lo = m << s, hi = s ? m >> (64 - s) : 0;
    const int64_t sg = (b >> 63) ? -1 : 1;
    a->limb[L] += sg * (int64_t)(lo & 0xffffffffu);
    a->limb[L + 1] += sg * (int64_t)(lo >> 32);
    a->limb[L + 2] += sg * (int64_t)hi;
    a->lo = L < a->lo ? L : a->lo;
    a->hi = L + 2 > a->hi ? L + 2 : a->hi;
}

/* Every limb of lo..top-1 brought into [0, 2^32), the carry moved up into
 * the top one */
static FORCE_INLINE void acc_carry(int64_t *t, int lo, int top)
{
    int64_t carry = 0;
    for (int i = lo; i < top; i++) {
        const int64_t v = t[i] + carry, d = v & 0xffffffff;
        /* v - d is a multiple of 2^32: an arithmetic shift divides it exactly */
        carry = (v - d) >> 32;
        t[i] = d;
    }
    t[top] += carry;
}

#ifdef __SIZEOF_INT128__
/* The sum rounded to the nearest double into *out: 1, or 0 where it cannot
 * (a value was out of range, or the result is subnormal). The
 * accumulator is left as it was. */
static CLONES int acc_round(const acc_t *a, double *out)
{
    if (!a->ok)
        return 0;
    if (a->hi < a->lo) { /* nothing added: fsum([]) is +0 */
        *out = 0.0;
        return 1;
    }
    /* the limbs written and two above them take every carry: each limb
     * holds less than 2^32 times the number of additions */
    const int lo = a->lo, top = a->hi + 2 < ACC_LIMBS ? a->hi + 2 : ACC_LIMBS - 1;
    int64_t t[ACC_LIMBS];
    memcpy(t + lo, a->limb + lo, sizeof(int64_t) * (size_t)(top + 1 - lo));
    acc_carry(t, lo, top);
    const int neg = t[top] < 0;
    if (neg) {
        for (int i = lo; i <= top; i++)
            t[i] = -t[i];
        acc_carry(t, lo, top);
    }
    int h = top;
    while (h >= lo && t[h] == 0)
        h--;
    if (h < lo) { /* exactly 0: fsum's +0 */
        *out = 0.0;
        return 1;
    }
    if (h < 2 || t[h] >> 32) /* subnormal territory, or past the limbs */
        return 0;
    /* the top three digits: 65 to 96 bits, bit 0 at 32 (h - 2) */
    const uint64_t d1 = h - 1 >= lo ? (uint64_t)t[h - 1] : 0, d2 = h - 2 >= lo ? (uint64_t)t[h - 2] : 0;
    const unsigned __int128 v = ((unsigned __int128)t[h] << 64) | ((unsigned __int128)d1 << 32) | d2;
    int sticky = 0;
    for (int i = lo; i < h - 2; i++)
        sticky |= t[i] != 0;
    const int nb = 128 - __builtin_clzll((uint64_t)(v >> 64));
    const int sh = nb - 53; /* 12 to 43 */
    /* a normal result: its leading bit at 32 (h - 2) + nb - 1 >= 52 */
    if (32 * (h - 2) + nb - 1 < 52)
        return 0;
    uint64_t mant = (uint64_t)(v >> sh);
    const unsigned __int128 rem = v & (((unsigned __int128)1 << sh) - 1), half = (unsigned __int128)1 << (sh - 1);
    mant += rem > half || (rem == half && (sticky || (mant & 1)));
    const double r = ldexp((double)mant, 32 * (h - 2) + sh - 1074); /* 2^53 after a carry: still exact */
    *out = neg ? -r : r;
    return 1;
}
#else
static int acc_round(const acc_t *a, double *out)
{
    (void)a, (void)out;
    return 0; /* no 128-bit integers: the expansion does it */
}
#endif

/* x into the expansion p[0..*len) (non-overlapping, increasing magnitude,
 * no zeros), exactly: Fast2Sum with each partial in turn, the larger
 * operand first, keeping the non-zero errors (Shewchuk's grow-expansion).
 * Every value here is finite and far below the overflow threshold. A zero
 * leaves the expansion as it is. */
static FORCE_INLINE void exact_add(double *p, int *len, double x)
{
    int k = 0;
    for (int i = 0; i < *len; i++) {
        const double y = p[i], big = fabs(x) < fabs(y) ? y : x, sml = fabs(x) < fabs(y) ? x : y;
        const double hi = big + sml, lo = sml - (hi - big);
        /* stored always, kept where non-zero: no branch to mispredict */
        p[k] = lo;
        k += lo != 0.0;
        x = hi;
    }
    /* math.fsum keeps no zero: a sum that cancels is +0 */
    p[k] = x;
    k += x != 0.0;
    *len = k;
}

/* The expansion's exact value rounded once to the nearest double, ties to
 * even. From the largest partial down, the running sum hi takes partials
 * while they add exactly; the first that leaves an error lo ends it (the
 * partials below are smaller than half an ulp of hi's last step). hi is
 * then the correct rounding unless hi + lo was exactly half-way and the
 * partials below push the exact value past that midpoint, in lo's
 * direction: then hi moves one step towards lo (2 lo added, where that is
 * exact). The expansion is not changed. */
static CLONES double exact_round(const double *p, int len)
{
    if (len == 0)
        return 0.0;
    int i = len - 1;
    double hi = p[i], lo = 0.0;
    while (i > 0) {
        const double x = hi, y = p[--i];
        hi = x + y;
        lo = y - (hi - x);
        if (lo != 0.0)
            break;
    }
    if (i > 0 && ((lo < 0.0 && p[i - 1] < 0.0) || (lo > 0.0 && p[i - 1] > 0.0))) {
        const double y = 2.0 * lo, x = hi + y;
        if (x - hi == y)
            hi = x;
    }
    return hi;
}

/* fsum of each row of a (rows x k, C-contiguous) into out, by the fixed
 * point (method 0, the expansion where it cannot) or the expansion alone
 * (method 1); for the tests */
EXPORT void row_fsum(const double *a, int64_t rows, int64_t k, int64_t method, double *out)
{
    for (int64_t i = 0; i < rows; i++) {
        const double *x = a + i * k;
        acc_t acc;
        acc_init(&acc);
        for (int64_t j = 0; j < k; j++)
            acc_add(&acc, x[j]);
        if (method == 0 && acc_round(&acc, &out[i]))
            continue;
        double *p = malloc(sizeof(double) * (size_t)(k + 1)); /* at most k + 1 partials */
        int len = 0;
        for (int64_t j = 0; j < k; j++)
            exact_add(p, &len, x[j]);
        out[i] = exact_round(p, len);
        free(p);
    }
}
