/* The training step and Adam for one floating-point format.
 *
 * Included twice by _cstep.c, with T = float and T = double. Before each
 * inclusion _cstep.c defines: T (the format), VT (a 32-byte vector of T), V
 * (its lanes), FN(name) (the name with the format's suffix), EXP (exp, for
 * arguments <= 0) and SQRT. Everything here is `static inline` and forced
 * inline, so that the x86-64 clones of the exported functions (see
 * _cstep.c) compile all of it for their instruction set.
 */

static FORCE_INLINE VT FN(loadv)(const T *p)
{
    VT v;
    memcpy(&v, p, sizeof v); /* an unaligned vector load */
    return v;
}

static FORCE_INLINE void FN(storev)(T *p, VT v) { memcpy(p, &v, sizeof v); }

/* Whether every element of a[0:n] is finite: x - x is 0 for a finite x and
 * NaN for inf or NaN, and the OR of the comparisons vectorises. */
static FORCE_INLINE int FN(all_finite)(const T *a, int64_t n)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad |= !(a[i] - a[i] == 0);
    return !bad;
}

static FORCE_INLINE T FN(relu)(T z) { return z <= 0 ? 0 : z; } /* NaN stays NaN, as np.maximum(z, 0) */

/* exp only sees -|z|: no overflow (the NumPy layer's formula) */
static FORCE_INLINE T FN(sigmoid)(T z)
{
    const T e = EXP(-(z < 0 ? -z : z));
    return (z >= 0 ? (T)1 : e) / ((T)1 + e);
}

/* z[i] = act(z[i] + bias) for i < n; the switch is outside the loops, so
 * that each one vectorises */
static FORCE_INLINE void FN(activate)(T *restrict z, int64_t n, T bias, int64_t act)
{
    switch (act) {
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            z[i] = FN(relu)(z[i] + bias);
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            z[i] = FN(sigmoid)(z[i] + bias);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            z[i] += bias;
    }
}

/* d[i] *= act'(z), from the activation's outputs a[i]. A ReLU multiplies by
 * 0 or 1 rather than selecting, so that NaN in d spreads as in NumPy. */
static FORCE_INLINE void FN(derivative)(T *restrict d, const T *restrict a, int64_t n, int64_t act)
{
    switch (act) {
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            d[i] = d[i] * (a[i] > 0 ? (T)1 : (T)0);
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            d[i] = d[i] * a[i] * ((T)1 - a[i]);
        break;
    default:
        break;
    }
}

/* Sum over the nonzero inputs p0..p1 of one row of val[p] * W[col[p], c0 :
 * c0 + NV * V] (W has u columns) into out[0 : NV * V] and, with TAIL, of
 * val[p] * Wt[col[p]] (one vector per row: the columns past the last whole
 * vector, zero-padded) into out[NV * V :]. Two independent chains of vector
 * accumulators hide the latency of the additions; NV and TAIL are constants
 * at every call, so the accumulators live in registers. */
static FORCE_INLINE void FN(sparse_dot)(const int64_t p0, const int64_t p1, const int32_t *col, const T *val,
                                        const T *W, const int64_t u, const int64_t c0, const int NV, const T *Wt,
                                        const int TAIL, T *out)
{
    VT a[5], b[5];
    for (int v = 0; v < NV + TAIL; v++)
        a[v] = b[v] = (VT){0};
    int64_t p = p0;
    for (; p + 1 < p1; p += 2) {
        const int64_t k0 = col[p], k1 = col[p + 1];
        const T *w0 = W + k0 * u + c0, *w1 = W + k1 * u + c0;
        const T x0 = val[p], x1 = val[p + 1];
        for (int v = 0; v < NV; v++) {
            a[v] += x0 * FN(loadv)(w0 + v * V);
            b[v] += x1 * FN(loadv)(w1 + v * V);
        }
        if (TAIL) {
            a[NV] += x0 * FN(loadv)(Wt + k0 * V);
            b[NV] += x1 * FN(loadv)(Wt + k1 * V);
        }
    }
    if (p < p1) {
        const int64_t k0 = col[p];
        const T *w0 = W + k0 * u + c0;
        for (int v = 0; v < NV; v++)
            a[v] += val[p] * FN(loadv)(w0 + v * V);
        if (TAIL)
            a[NV] += val[p] * FN(loadv)(Wt + k0 * V);
    }
    for (int v = 0; v < NV + TAIL; v++)
        FN(storev)(out + v * V, a[v] + b[v]);
}

/* dW[col[p], c0 : c0 + NV * V] += val[p] * d[0 : NV * V] and, with TAIL,
 * dWt[col[p]] += val[p] * d[NV * V :] (zero-padded) for the nonzero inputs
 * p0..p1 of one row. A row of dW is touched once per input row: there is no
 * chain to hide. */
static FORCE_INLINE void FN(sparse_outer)(const int64_t p0, const int64_t p1, const int32_t *col, const T *val,
                                          T *dW, const int64_t u, const int64_t c0, const int NV, T *dWt,
                                          const int TAIL, const T *d)
{
    VT dv[5];
    for (int v = 0; v < NV + TAIL; v++)
        dv[v] = FN(loadv)(d + v * V);
    for (int64_t p = p0; p < p1; p++) {
        const int64_t k = col[p];
        T *w = dW + k * u + c0;
        const T x = val[p];
        for (int v = 0; v < NV; v++)
            FN(storev)(w + v * V, FN(loadv)(w + v * V) + x * dv[v]);
        if (TAIL)
            FN(storev)(dWt + k * V, FN(loadv)(dWt + k * V) + x * dv[NV]);
    }
}

/* For the columns of a u-wide row in groups from column g * V: up to 4 whole
 * vectors each, and the tail vector (the columns past the last whole vector)
 * with the last group that has room, CALL(NV, TAIL) with NV and TAIL turned
 * into constants by the switch. */
#define FOR_EACH_GROUP(u, CALL)                                                                                \
    do {                                                                                                       \
        const int64_t whole_ = (u) / V, tail_ = (u) % V != 0;                                                   \
        for (int64_t g = 0; g < whole_ + tail_; g += 4) {                                                       \
            const int64_t nv_ = whole_ - g < 4 ? whole_ - g : 4, t_ = tail_ && whole_ - g < 4;                  \
            switch (nv_ * 2 + t_) {                                                                            \
            case 1: CALL(0, 1); break;                                                                         \
            case 2: CALL(1, 0); break;                                                                         \
            case 3: CALL(1, 1); break;                                                                         \
            case 4: CALL(2, 0); break;                                                                         \
            case 5: CALL(2, 1); break;                                                                         \
            case 6: CALL(3, 0); break;                                                                         \
            case 7: CALL(3, 1); break;                                                                         \
            case 8: CALL(4, 0); break;                                                                         \
            case 9: CALL(4, 1); break;                                                                         \
            default: break;                                                                                    \
            }                                                                                                  \
            if (t_)                                                                                            \
                break;                                                                                         \
        }                                                                                                      \
    } while (0)

/* The first layer's x @ W0 for the input row r, from its nonzero inputs
 * only: a zero input adds 0 * W0[k] = 0, exactly while W0 is finite (the
 * caller checks). One pass over the row's inputs per group of columns; the
 * tail columns come from Wt, zero-padded to a whole vector. */
static FORCE_INLINE void FN(first_forward_row)(const plan_t *pl, const T *W, const T *Wt, int64_t u, int64_t r,
                                               T *out)
{
    const int64_t p0 = pl->ptr[r], p1 = pl->ptr[r + 1];
    const T *val = (const T *)pl->val;
#define FWD(NV, TAIL) FN(sparse_dot)(p0, p1, pl->col, val, W, u, g * V, NV, Wt, TAIL, out + g * V)
    FOR_EACH_GROUP(u, FWD);
#undef FWD
}

/* dW0 += outer(x_r, d) from the nonzero inputs of row r (the tail columns
 * into dWt). */
static FORCE_INLINE void FN(first_backward_row)(const plan_t *pl, T *dW, T *dWt, int64_t u, int64_t r, const T *d)
{
    const int64_t p0 = pl->ptr[r], p1 = pl->ptr[r + 1];
    const T *val = (const T *)pl->val;
#define BWD(NV, TAIL) FN(sparse_outer)(p0, p1, pl->col, val, dW, u, g * V, NV, dWt, TAIL, d + g * V)
    FOR_EACH_GROUP(u, BWD);
#undef BWD
}

/* out[i] = sum(w[m * ws] * rows[m * n + i] for m < nrows), i < n: a sum of
 * scaled rows, along the batch (m in order, as a matmul's inner loop) */
static FORCE_INLINE void FN(combine)(T *restrict out, const T *restrict rows, int64_t nrows, int64_t n,
                                     const T *restrict w, int64_t ws)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = 0;
    for (int64_t m = 0; m < nrows; m++) {
        const T wm = w[m * ws];
        const T *restrict x = rows + m * n;
        for (int64_t i = 0; i < n; i++)
            out[i] += wm * x[i];
    }
}

/* sum(a[i] * b[i] for i < n) in four vector accumulators, added in a fixed
 * order: a dot product as one chain of additions would be latency-bound. */
static FORCE_INLINE T FN(dot)(const T *a, const T *b, int64_t n)
{
    VT s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t i = 0;
    for (; i + 4 * V <= n; i += 4 * V) {
        s0 += FN(loadv)(a + i) * FN(loadv)(b + i);
        s1 += FN(loadv)(a + i + V) * FN(loadv)(b + i + V);
        s2 += FN(loadv)(a + i + 2 * V) * FN(loadv)(b + i + 2 * V);
        s3 += FN(loadv)(a + i + 3 * V) * FN(loadv)(b + i + 3 * V);
    }
    for (; i + V <= n; i += V)
        s0 += FN(loadv)(a + i) * FN(loadv)(b + i);
    const VT s = (s0 + s1) + (s2 + s3);
    T t = 0;
    for (int v = 0; v < V; v++)
        t += s[v];
    for (; i < n; i++)
        t += a[i] * b[i];
    return t;
}

/* sum(a[i] for i < n), the same way */
static FORCE_INLINE T FN(sum)(const T *a, int64_t n)
{
    VT s0 = {0}, s1 = {0};
    int64_t i = 0;
    for (; i + 2 * V <= n; i += 2 * V) {
        s0 += FN(loadv)(a + i);
        s1 += FN(loadv)(a + i + V);
    }
    for (; i + V <= n; i += V)
        s0 += FN(loadv)(a + i);
    const VT s = s0 + s1;
    T t = 0;
    for (int v = 0; v < V; v++)
        t += s[v];
    for (; i < n; i++)
        t += a[i];
    return t;
}

/* dL/dz of the mean loss over the n rows of the batch into Dt, from the
 * logits Zt (both c x n, one row per class): (softmax(z) - y) / n with the
 * max shift, or (sigmoid(z) - y) / (n c) for the binary loss; the formulas
 * and, per sample, the order of the NumPy losses. Every loop runs along the
 * batch, so that it vectorises (but for exp). aux holds 3 n scratch values. */
static FORCE_INLINE void FN(loss_gradient)(const plan_t *pl, const int64_t *idx, int64_t n, const T *Zt, T *Dt,
                                           T *aux)
{
    const int64_t c = pl->dout[pl->L - 1];
    const double *ydense = pl->ydense;
    if (pl->kind == LOSS_BINARY) {
        const T scale = (T)(1.0 / ((double)n * (double)c));
        for (int64_t j = 0; j < c; j++) {
            const T *restrict z = Zt + j * n;
            T *restrict g = Dt + j * n;
            for (int64_t i = 0; i < n; i++)
                g[i] = (FN(sigmoid)(z[i]) - (T)ydense[idx[i] * c + j]) * scale;
        }
        return;
    }
    const T scale = (T)(1.0 / (double)n);
    T *restrict m = aux, *restrict s = aux + n, *restrict t = aux + 2 * n;
    for (int64_t i = 0; i < n; i++)
        m[i] = Zt[i];
    for (int64_t j = 1; j < c; j++) {
        const T *restrict z = Zt + j * n;
        for (int64_t i = 0; i < n; i++)
            m[i] = (z[i] > m[i] || z[i] != z[i]) ? z[i] : m[i]; /* NaN wins, as in np.max */
    }
    for (int64_t i = 0; i < n; i++)
        s[i] = 0;
    for (int64_t j = 0; j < c; j++) {
        const T *restrict z = Zt + j * n;
        T *restrict g = Dt + j * n;
        for (int64_t i = 0; i < n; i++) {
            g[i] = EXP(z[i] - m[i]);
            s[i] += g[i];
        }
    }
    if (pl->kind == LOSS_SPARSE) {
        for (int64_t j = 0; j < c; j++) {
            T *restrict g = Dt + j * n;
            for (int64_t i = 0; i < n; i++)
                g[i] = g[i] / s[i];
        }
        for (int64_t i = 0; i < n; i++)
            Dt[pl->yint[idx[i]] * n + i] -= 1;
        for (int64_t k = 0; k < c * n; k++)
            Dt[k] *= scale;
        return;
    }
    /* d/dz -sum(y log softmax(z)) = softmax(z) * sum(y) - y */
    for (int64_t i = 0; i < n; i++)
        t[i] = 0;
    for (int64_t j = 0; j < c; j++)
        for (int64_t i = 0; i < n; i++)
            t[i] += (T)ydense[idx[i] * c + j];
    for (int64_t j = 0; j < c; j++) {
        T *restrict g = Dt + j * n;
        for (int64_t i = 0; i < n; i++)
            g[i] = (g[i] / s[i] * t[i] - (T)ydense[idx[i] * c + j]) * scale;
    }
}

/* the first lines of row r of the CSR inputs, while the previous row is
 * being worked on (the rows of a batch are scattered over the data set) */
static FORCE_INLINE void FN(prefetch_row)(const plan_t *pl, int64_t r)
{
    const int64_t p = pl->ptr[r];
    __builtin_prefetch(pl->col + p);
    __builtin_prefetch((const T *)pl->val + p);
}

/* One forward and backward pass over the training rows idx[0:n]; the weight
 * and bias gradients go to G, the logits to Z[z0 : z0 + n].
 *
 * Past the first layer every array is feature-major (units x n: one row
 * per unit), so that every inner loop runs along the batch: long and
 * contiguous, where a loop over 15 units would be mostly remainder. */
static FORCE_INLINE int FN(step_impl)(const plan_t *pl, const int64_t *idx, int64_t n, int64_t z0)
{
    const int64_t L = pl->L, d = pl->d;
    T *P = (T *)pl->P, *G = (T *)pl->G, *work = (T *)pl->work, *row = (T *)pl->row;
    const int64_t u0 = pl->dout[0];
    const T *W0 = P + pl->koff[0];

    if (!FN(all_finite)(W0, d * u0))
        return STEP_NONFINITE_KERNEL; /* 0 * inf is NaN: the NumPy step must run */
    /* the first kernel's columns past its last whole vector, zero-padded to
     * one vector per row (Wt, d x V; the padding stays zero) */
    const int64_t w0 = u0 / V * V, nt = u0 - w0;
    T *Wt = (T *)pl->Wt, *dWt = (T *)pl->dWt;
    if (nt)
        for (int64_t k = 0; k < d; k++)
            for (int64_t j = 0; j < nt; j++)
                Wt[k * V + j] = W0[k * u0 + w0 + j];

    /* offsets of each layer's outputs (dout x n) in work */
    int64_t off[MAXL + 1];
    off[0] = 0;
    for (int64_t l = 0; l < L; l++)
        off[l + 1] = off[l] + n * pl->dout[l];

    /* forward */
    for (int64_t l = 0; l < L; l++) {
        const int64_t din = pl->din[l], u = pl->dout[l], act = pl->act[l];
        const T *bias = P + pl->boff[l];
        T *At = work + off[l];
        if (l == 0) {
            for (int64_t i = 0; i < n; i++) {
                if (i + 1 < n)
                    FN(prefetch_row)(pl, idx[i + 1]);
                FN(first_forward_row)(pl, W0, Wt, u, idx[i], row);
                for (int64_t j = 0; j < u; j++)
                    At[j * n + i] = row[j];
            }
            for (int64_t j = 0; j < u; j++)
                FN(activate)(At + j * n, n, bias[j], act);
            continue;
        }
        const T *W = P + pl->koff[l], *Xt = work + off[l - 1];
        for (int64_t j = 0; j < u; j++) {
            FN(combine)(At + j * n, Xt, din, n, W + j, u); /* z_j = sum_k W[k, j] x_k */
            FN(activate)(At + j * n, n, bias[j], act);
        }
    }
    const int64_t C = pl->dout[L - 1];
    const T *Zt = work + off[L - 1];
    T *Z = (T *)pl->Z + z0 * C;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < C; j++)
            Z[i * C + j] = Zt[j * n + i];

    /* backward */
    T *Dt = (T *)pl->Da, *Dn = (T *)pl->Db;
    FN(loss_gradient)(pl, idx, n, Zt, Dt, (T *)pl->aux);
    for (int64_t l = L - 1; l >= 0; l--) {
        const int64_t din = pl->din[l], u = pl->dout[l];
        T *db = G + pl->boff[l];
        for (int64_t j = 0; j < u; j++)
            db[j] = FN(sum)(Dt + j * n, n);
        if (l == 0) {
            /* dW0 = x.T @ D from the nonzero inputs: the rows of the zero
             * ones are exactly 0 (D is finite, or the step is redone) */
            T *dW = G + pl->koff[0];
            memset(dW, 0, d * u * sizeof(T));
            if (nt)
                memset(dWt, 0, d * V * sizeof(T));
            const int64_t padded = (u + V - 1) / V * V;
            for (int64_t j = u; j < padded; j++)
                row[j] = 0; /* the tail vector's padding */
            for (int64_t i = 0; i < n; i++) {
                if (i + 1 < n)
                    FN(prefetch_row)(pl, idx[i + 1]);
                for (int64_t j = 0; j < u; j++)
                    row[j] = Dt[j * n + i];
                FN(first_backward_row)(pl, dW, dWt, u, idx[i], row);
            }
            if (nt)
                for (int64_t k = 0; k < d; k++)
                    for (int64_t j = 0; j < nt; j++)
                        dW[k * u + w0 + j] = dWt[k * V + j];
            break;
        }
        const T *Xt = work + off[l - 1], *W = P + pl->koff[l];
        T *dW = G + pl->koff[l];
        for (int64_t k = 0; k < din; k++)
            for (int64_t j = 0; j < u; j++)
                dW[k * u + j] = FN(dot)(Xt + k * n, Dt + j * n, n);
        /* Dn = (W @ D) * act'(z), a sum of scaled rows of D per input unit */
        const int64_t act = pl->act[l - 1];
        for (int64_t k = 0; k < din; k++) {
            FN(combine)(Dn + k * n, Dt, u, n, W + k * u, 1); /* sum_j W[k, j] D_j */
            FN(derivative)(Dn + k * n, Xt + k * n, n, act);
        }
        T *swap = Dt;
        Dt = Dn;
        Dn = swap;
    }
    return FN(all_finite)(G, pl->size) ? STEP_OK : STEP_NONFINITE_GRADIENT;
}

/* Keras's Adam element by element: the operations, the order and the format
 * of optimizers.Adam's NumPy passes, without FMA contraction (the extension
 * is compiled with -ffp-contract=off), so the results are bit-identical. */
static FORCE_INLINE void FN(adam_impl)(T *restrict P, const T *restrict G, T *restrict m, T *restrict v, int64_t n,
                                       T c1, T c2, T alpha, T eps)
{
    for (int64_t i = 0; i < n; i++) {
        const T g = G[i];
        m[i] += (g - m[i]) * c1;
        v[i] += (g * g - v[i]) * c2;
        P[i] -= m[i] / (SQRT(v[i]) + eps) * alpha;
    }
}
