/*
 * test_train: the training engine. Gradients of every op and of a whole tiny
 * model against central finite differences of independent double-precision
 * reference implementations (written here, naive); the GEMM against its
 * scalar reference; bit-exact determinism across thread counts and across a
 * save/resume; the LR schedule; refusal of bad configs.
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "le_test.h"

#include "le_bpe_train.h"
#include "le_err.h"
#include "le_gguf.h"
#include "le_model.h"
#include "le_ops.h"
#include "le_pool.h"
#include "le_train.h"
#include "train_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t rs = 88172645463325252ULL;
static double urand(void) { /* xorshift64, uniform in [-1, 1) */
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (double)(rs >> 11) / 4503599627370496.0 - 1.0;
}
static void fill(float *x, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(urand() * scale);
}

/* |analytic - numeric| <= atol + rtol * |numeric| for every element. */
static void check_close(const char *what, const float *a, const double *num, int64_t n, double atol, double rtol) {
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - num[i]);
        if (!(d <= atol + rtol * fabs(num[i]))) {
            print_error("%s[%lld]: analytic %.9g numeric %.9g\n", what, (long long)i, (double)a[i], num[i]);
            fail();
        }
    }
}

/* ------------------------------------------------------------------ GEMM */

static void gemm_case(struct le_pool *pool, int simd, int form, int64_t N, int64_t M, int64_t K, int acc) {
    /* form 0: Y(N,M) = X(N,K) W(M,K)^T; 1: dX(N,K) = dY(N,M) W(M,K); 2: dW(M,K) = dY(N,M)^T X(N,K) */
    float *X = malloc(sizeof(float) * N * K), *W = malloc(sizeof(float) * M * K);
    float *Yd = malloc(sizeof(float) * N * M);
    int64_t outn = form == 0 ? N * M : form == 1 ? N * K : M * K;
    float *out = malloc(sizeof(float) * outn), *ref = malloc(sizeof(float) * outn);
    fill(X, N * K, 1), fill(W, M * K, 1), fill(Yd, N * M, 1), fill(out, outn, 1);
    memcpy(ref, out, sizeof(float) * outn);
    if (form == 0) {
        le_tg_gemm(pool, simd, N, M, K, X, K, 1, W, 1, K, out, M, acc);
        le_tg_gemm_ref(N, M, K, X, K, 1, W, 1, K, ref, M, acc);
    } else if (form == 1) {
        le_tg_dyw(pool, simd, out, Yd, W, N, M, K, acc);
        le_tg_gemm_ref(N, K, M, Yd, M, 1, W, K, 1, ref, K, acc);
    } else {
        le_tg_dytx(pool, simd, out, Yd, X, N, M, K, acc);
        le_tg_gemm_ref(M, K, N, Yd, 1, M, X, K, 1, ref, K, acc);
    }
    double red = form == 0 ? (double)K : form == 1 ? (double)M : (double)N;
    for (int64_t i = 0; i < outn; i++)
        if (fabs(out[i] - ref[i]) > 1e-5 * red + 1e-5) {
            print_error("form %d N=%lld M=%lld K=%lld [%lld]: %g vs %g\n", form, (long long)N, (long long)M,
                        (long long)K, (long long)i, out[i], ref[i]);
            fail();
        }
    free(X), free(W), free(Yd), free(out), free(ref);
}

static void gemm_should_match_scalar_reference_for_three_forms(void **state) {
    (void)state;
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 2), LE_OK);
    int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 37, 300}, {64, 16, 48}, {50, 33, 520}};
    for (int simd = 0; simd < 2; simd++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int form = 0; form < 3; form++)
                for (int acc = 0; acc < 2; acc++)
                    gemm_case(pool, simd, form, shapes[s][0], shapes[s][1], shapes[s][2], acc);
    }
    le_pool_free(pool);
}

/* ------------------------------------------------------- per-op gradients */

enum { RN = 6, RC = 10 };

static double ref_rms(const double *x, const double *g, double *y, int64_t N, int64_t C, double eps) {
    double tot = 0;
    for (int64_t n = 0; n < N; n++) {
        double ss = 0;
        for (int64_t c = 0; c < C; c++)
            ss += x[n * C + c] * x[n * C + c];
        double r = 1.0 / sqrt(ss / (double)C + eps);
        for (int64_t c = 0; c < C; c++)
            y[n * C + c] = x[n * C + c] * r * g[c];
    }
    return tot;
}

static double rms_obj(const double *x, const double *g, const float *up) {
    double y[RN * RC], s = 0;
    ref_rms(x, g, y, RN, RC, 1e-5);
    for (int i = 0; i < RN * RC; i++)
        s += y[i] * up[i];
    return s;
}

static void rmsnorm_gradient_should_match_finite_differences(void **state) {
    (void)state;
    for (int rep = 0; rep < 2; rep++) { /* RMSNorm has one implementation: two random draws */
        float x[RN * RC], g[RC], up[RN * RC], y[RN * RC], rstd[RN], dx[RN * RC] = {0}, dg[RC] = {0};
        float scr[RN * RC];
        fill(x, RN * RC, 2), fill(g, RC, 1), fill(up, RN * RC, 1);
        le_top_rmsnorm_fwd(NULL, 0, x, g, y, rstd, RN, RC, 1e-5f);
        le_top_rmsnorm_bwd(NULL, x, g, rstd, up, dx, dg, RN, RC, scr);
        double xd[RN * RC], gd[RC], yd[RN * RC], nx[RN * RC], ng[RC], h = 1e-6;
        for (int i = 0; i < RN * RC; i++)
            xd[i] = x[i];
        for (int i = 0; i < RC; i++)
            gd[i] = g[i];
        ref_rms(xd, gd, yd, RN, RC, 1e-5);
        double ny[RN * RC];
        for (int i = 0; i < RN * RC; i++)
            ny[i] = yd[i];
        check_close("rmsnorm y", y, ny, RN * RC, 1e-6, 1e-5);
        for (int i = 0; i < RN * RC; i++) {
            double s = xd[i];
            xd[i] = s + h;
            double a = rms_obj(xd, gd, up);
            xd[i] = s - h;
            double b = rms_obj(xd, gd, up);
            xd[i] = s;
            nx[i] = (a - b) / (2 * h);
        }
        for (int i = 0; i < RC; i++) {
            double s = gd[i];
            gd[i] = s + h;
            double a = rms_obj(xd, gd, up);
            gd[i] = s - h;
            double b = rms_obj(xd, gd, up);
            gd[i] = s;
            ng[i] = (a - b) / (2 * h);
        }
        check_close("rmsnorm dx", dx, nx, RN * RC, 1e-5, 1e-4);
        check_close("rmsnorm dg", dg, ng, RC, 1e-5, 1e-4);
    }
}

static void ref_rope(double *x, int64_t N, int64_t T, int64_t nh, int64_t D, double base) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < nh; h++)
            for (int64_t i = 0; i < D / 2; i++) {
                double th = (double)(n % T) * pow(base, -2.0 * (double)i / (double)D);
                double *p = x + (n * nh + h) * D + 2 * i, a = p[0], b = p[1];
                p[0] = a * cos(th) - b * sin(th);
                p[1] = a * sin(th) + b * cos(th);
            }
}

static void rope_and_its_backward_should_match_reference(void **state) {
    (void)state;
    enum { N = 8, T = 4, NH = 2, D = 6 };
    float x[N * NH * D], up[N * NH * D], cs[T * D];
    double xd[N * NH * D], nx[N * NH * D], h = 1e-6;
    fill(x, N * NH * D, 1), fill(up, N * NH * D, 1);
    le_ops_rope_table(cs, T, D, 10000.0f, 1.0f, NULL);
    for (int i = 0; i < N * NH * D; i++)
        xd[i] = x[i];
    float y[N * NH * D];
    memcpy(y, x, sizeof y);
    le_top_rope(NULL, 1, y, N, T, NH, D, cs, 0);
    ref_rope(xd, N, T, NH, D, 10000.0);
    check_close("rope y", y, xd, N * NH * D, 1e-6, 1e-5);
    /* Gradient of sum(up * rope(x)) w.r.t. x is rope^-1(up). */
    float g[N * NH * D];
    memcpy(g, up, sizeof g);
    le_top_rope(NULL, 1, g, N, T, NH, D, cs, 1);
    for (int i = 0; i < N * NH * D; i++) {
        double p[N * NH * D], m[N * NH * D], a = 0, b = 0;
        for (int k = 0; k < N * NH * D; k++)
            p[k] = m[k] = x[k];
        p[i] += h, m[i] -= h;
        ref_rope(p, N, T, NH, D, 10000.0);
        ref_rope(m, N, T, NH, D, 10000.0);
        for (int k = 0; k < N * NH * D; k++)
            a += p[k] * up[k], b += m[k] * up[k];
        nx[i] = (a - b) / (2 * h);
    }
    check_close("rope dx", g, nx, N * NH * D, 1e-6, 1e-5);
}

enum { AB = 2, AT = 5, AH = 4, AG = 2, AD = 4, AC = AH * AD, AKC = AG * AD, AN = AB * AT };

static void ref_attn(const double *q, const double *k, const double *v, double *out) {
    double sc = 1.0 / sqrt((double)AD);
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < AH; h++) {
            int g = h / (AH / AG);
            for (int t = 0; t < AT; t++) {
                double s[AT], m = -1e300, z = 0;
                for (int u = 0; u <= t; u++) {
                    s[u] = 0;
                    for (int d = 0; d < AD; d++)
                        s[u] += q[(b * AT + t) * AC + h * AD + d] * k[(b * AT + u) * AKC + g * AD + d];
                    s[u] *= sc;
                    m = s[u] > m ? s[u] : m;
                }
                for (int u = 0; u <= t; u++)
                    z += (s[u] = exp(s[u] - m));
                for (int d = 0; d < AD; d++) {
                    double o = 0;
                    for (int u = 0; u <= t; u++)
                        o += s[u] / z * v[(b * AT + u) * AKC + g * AD + d];
                    out[(b * AT + t) * AC + h * AD + d] = o;
                }
            }
        }
}

static double attn_obj(const double *q, const double *k, const double *v, const float *up) {
    double o[AN * AC], s = 0;
    ref_attn(q, k, v, o);
    for (int i = 0; i < AN * AC; i++)
        s += o[i] * up[i];
    return s;
}

static void numgrad(double *x, int n, double *out, double (*f)(void *), void *ud) {
    double h = 1e-6;
    for (int i = 0; i < n; i++) {
        double s = x[i];
        x[i] = s + h;
        double a = f(ud);
        x[i] = s - h;
        double b = f(ud);
        x[i] = s;
        out[i] = (a - b) / (2 * h);
    }
}

struct attn_ud {
    double q[AN * AC], k[AN * AKC], v[AN * AKC];
    float up[AN * AC];
};
static double attn_f(void *ud) {
    struct attn_ud *u = ud;
    return attn_obj(u->q, u->k, u->v, u->up);
}

static void attention_gradient_should_match_finite_differences(void **state) {
    (void)state;
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 2), LE_OK);
    for (int simd = 0; simd < 2; simd++) {
        static float q[AN * AC], k[AN * AKC], v[AN * AKC], p[AB * AH * AT * AT], out[AN * AC];
        static float dq[AN * AC], dk[AN * AKC], dv[AN * AKC];
        static struct attn_ud u;
        fill(q, AN * AC, 1.5), fill(k, AN * AKC, 1.5), fill(v, AN * AKC, 1), fill(u.up, AN * AC, 1);
        float *scr = malloc(sizeof(float) * le_top_attn_scratch(pool, AT));
        le_top_attn_fwd(pool, simd, q, k, v, p, out, AB, AT, AH, AG, AD, scr);
        le_top_attn_bwd(pool, simd, q, k, v, p, u.up, dq, dk, dv, AB, AT, AH, AG, AD, scr);
        for (int i = 0; i < AN * AC; i++)
            u.q[i] = q[i];
        for (int i = 0; i < AN * AKC; i++)
            u.k[i] = k[i], u.v[i] = v[i];
        double ro[AN * AC], nq[AN * AC], nk[AN * AKC], nv[AN * AKC];
        ref_attn(u.q, u.k, u.v, ro);
        check_close("attn out", out, ro, AN * AC, 1e-6, 1e-5);
        numgrad(u.q, AN * AC, nq, attn_f, &u);
        numgrad(u.k, AN * AKC, nk, attn_f, &u);
        numgrad(u.v, AN * AKC, nv, attn_f, &u);
        check_close("attn dq", dq, nq, AN * AC, 1e-5, 1e-4);
        check_close("attn dk", dk, nk, AN * AKC, 1e-5, 1e-4);
        check_close("attn dv", dv, nv, AN * AKC, 1e-5, 1e-4);
        free(scr);
    }
    le_pool_free(pool);
}

struct glu_ud {
    double a[300], b[300];
    float up[300];
};
static double glu_f(void *ud) {
    struct glu_ud *u = ud;
    double s = 0;
    for (int i = 0; i < 300; i++)
        s += u->a[i] / (1 + exp(-u->a[i])) * u->b[i] * u->up[i];
    return s;
}

static void swiglu_gradient_should_match_finite_differences(void **state) {
    (void)state;
    for (int simd = 0; simd < 2; simd++) {
        static float a[300], b[300], h[300], da[300], db[300];
        static struct glu_ud u;
        fill(a, 300, 6), fill(b, 300, 2), fill(u.up, 300, 1);
        le_top_swiglu_fwd(NULL, simd, a, b, h, 300);
        le_top_swiglu_bwd(NULL, simd, a, b, u.up, da, db, 300);
        double na[300], nb[300], rh[300];
        for (int i = 0; i < 300; i++)
            u.a[i] = a[i], u.b[i] = b[i], rh[i] = u.a[i] / (1 + exp(-u.a[i])) * u.b[i];
        check_close("swiglu h", h, rh, 300, 1e-6, 1e-5);
        numgrad(u.a, 300, na, glu_f, &u);
        numgrad(u.b, 300, nb, glu_f, &u);
        check_close("swiglu da", da, na, 300, 1e-5, 1e-4);
        check_close("swiglu db", db, nb, 300, 1e-5, 1e-4);
    }
}

enum { XN = 5, XV = 300 };
struct xent_ud {
    double l[XN * XV];
    int32_t t[XN];
};
static double xent_f(void *ud) {
    struct xent_ud *u = ud;
    double s = 0;
    for (int n = 0; n < XN; n++) {
        double m = -1e300, z = 0;
        for (int v = 0; v < XV; v++)
            m = u->l[n * XV + v] > m ? u->l[n * XV + v] : m;
        for (int v = 0; v < XV; v++)
            z += exp(u->l[n * XV + v] - m);
        s += m + log(z) - u->l[n * XV + u->t[n]];
    }
    return s * 0.25;
}

static void cross_entropy_gradient_should_match_finite_differences(void **state) {
    (void)state;
    for (int simd = 0; simd < 2; simd++) {
        static float l[XN * XV], d[XN * XV], rl[XN];
        static struct xent_ud u;
        fill(l, XN * XV, 8);
        for (int n = 0; n < XN; n++)
            u.t[n] = (int32_t)((n * 97 + 13) % XV);
        for (int i = 0; i < XN * XV; i++)
            u.l[i] = l[i];
        double s = le_top_xent(NULL, simd, l, u.t, d, rl, XN, XV, 0.25f);
        assert_true(fabs(s * 0.25 - xent_f(&u)) < 1e-5 * fabs(xent_f(&u)) + 1e-6);
        double nl[XN * XV];
        numgrad(u.l, XN * XV, nl, xent_f, &u);
        check_close("xent dlogits", d, nl, XN * XV, 1e-6, 1e-4);
    }
}

static void embedding_backward_should_sum_rows_per_token(void **state) {
    (void)state;
    float E[4 * 3], out[5 * 3], dx[5 * 3], dE[4 * 3] = {0};
    int32_t tok[5] = {2, 0, 2, 3, 2};
    fill(E, 12, 1), fill(dx, 15, 1);
    le_top_embed_fwd(NULL, E, tok, out, 5, 3);
    for (int n = 0; n < 5; n++)
        for (int c = 0; c < 3; c++)
            assert_true(out[n * 3 + c] == E[tok[n] * 3 + c]);
    le_top_embed_bwd(NULL, dE, tok, dx, 5, 3);
    for (int c = 0; c < 3; c++) {
        assert_true(fabsf(dE[2 * 3 + c] - (dx[0 * 3 + c] + dx[2 * 3 + c] + dx[4 * 3 + c])) < 1e-6f);
        assert_true(dE[1 * 3 + c] == 0.0f);
        assert_true(dE[3 * 3 + c] == dx[3 * 3 + c]);
    }
}

/* ------------------------------------------------- whole-model reference */

struct ref_model {
    struct le_train_config c;
    int64_t C, H, G, D, KC, F, T, V, L;
};

/* The flat layout documented in train_int.h: token_embd; per layer attn_norm,
 * attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_down, ffn_up;
 * output_norm; output (untied). */
static double ref_model_loss(const struct ref_model *r, const double *P, const int32_t *win, int64_t B) {
    int64_t C = r->C, H = r->H, G = r->G, D = r->D, KC = r->KC, F = r->F, T = r->T, V = r->V;
    double eps = (double)r->c.norm_eps, base = (double)r->c.rope_base, total = 0;
    double *x = calloc((size_t)(T * C), 8), *xn = calloc((size_t)(T * C), 8), *q = calloc((size_t)(T * C), 8);
    double *k = calloc((size_t)(T * KC), 8), *v = calloc((size_t)(T * KC), 8), *att = calloc((size_t)(T * C), 8);
    double *a = calloc((size_t)(T * F), 8), *bb = calloc((size_t)(T * F), 8), *lg = calloc((size_t)V, 8);
    for (int64_t b = 0; b < B; b++) {
        const int32_t *w = win + b * (T + 1);
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++)
                x[t * C + c] = P[w[t] * C + c];
        int64_t off = V * C;
        for (int64_t l = 0; l < r->L; l++) {
            const double *an = P + off, *wq = an + C, *wk = wq + C * C, *wv = wk + KC * C, *wo = wv + KC * C;
            const double *fnw = wo + C * C, *w1 = fnw + C, *w2 = w1 + F * C, *w3 = w2 + C * F;
            off += 2 * C + 2 * C * C + 2 * KC * C + 3 * F * C;
            ref_rms(x, an, xn, T, C, eps);
            for (int64_t t = 0; t < T; t++) {
                for (int64_t o = 0; o < C; o++) {
                    q[t * C + o] = 0;
                    for (int64_t i = 0; i < C; i++)
                        q[t * C + o] += wq[o * C + i] * xn[t * C + i];
                }
                for (int64_t o = 0; o < KC; o++) {
                    k[t * KC + o] = v[t * KC + o] = 0;
                    for (int64_t i = 0; i < C; i++) {
                        k[t * KC + o] += wk[o * C + i] * xn[t * C + i];
                        v[t * KC + o] += wv[o * C + i] * xn[t * C + i];
                    }
                }
            }
            ref_rope(q, T, T, H, D, base);
            ref_rope(k, T, T, G, D, base);
            for (int64_t h = 0; h < H; h++) {
                int64_t g = h / (H / G);
                for (int64_t t = 0; t < T; t++) {
                    double s[64], m = -1e300, z = 0;
                    for (int64_t u = 0; u <= t; u++) {
                        s[u] = 0;
                        for (int64_t d = 0; d < D; d++)
                            s[u] += q[t * C + h * D + d] * k[u * KC + g * D + d];
                        s[u] /= sqrt((double)D);
                        m = s[u] > m ? s[u] : m;
                    }
                    for (int64_t u = 0; u <= t; u++)
                        z += (s[u] = exp(s[u] - m));
                    for (int64_t d = 0; d < D; d++) {
                        double o = 0;
                        for (int64_t u = 0; u <= t; u++)
                            o += s[u] / z * v[u * KC + g * D + d];
                        att[t * C + h * D + d] = o;
                    }
                }
            }
            for (int64_t t = 0; t < T; t++)
                for (int64_t o = 0; o < C; o++)
                    for (int64_t i = 0; i < C; i++)
                        x[t * C + o] += wo[o * C + i] * att[t * C + i];
            ref_rms(x, fnw, xn, T, C, eps);
            for (int64_t t = 0; t < T; t++) {
                for (int64_t f = 0; f < F; f++) {
                    a[f] = bb[f] = 0;
                    for (int64_t i = 0; i < C; i++) {
                        a[f] += w1[f * C + i] * xn[t * C + i];
                        bb[f] += w3[f * C + i] * xn[t * C + i];
                    }
                    a[f] = a[f] / (1 + exp(-a[f])) * bb[f];
                }
                for (int64_t o = 0; o < C; o++)
                    for (int64_t f = 0; f < F; f++)
                        x[t * C + o] += w2[o * F + f] * a[f];
            }
        }
        const double *on = P + off, *ow = r->c.tied ? P : on + C;
        ref_rms(x, on, xn, T, C, eps);
        for (int64_t t = 0; t < T; t++) {
            double m = -1e300, z = 0;
            for (int64_t u = 0; u < V; u++) {
                lg[u] = 0;
                for (int64_t i = 0; i < C; i++)
                    lg[u] += ow[u * C + i] * xn[t * C + i];
                m = lg[u] > m ? lg[u] : m;
            }
            for (int64_t u = 0; u < V; u++)
                z += exp(lg[u] - m);
            total += m + log(z) - lg[w[t + 1]];
        }
    }
    free(x), free(xn), free(q), free(k), free(v), free(att), free(a), free(bb), free(lg);
    return total / (double)(B * T);
}

static void tiny_config(struct le_train_config *c, int tied) {
    le_train_config_default(c);
    c->dim = 8, c->n_layers = 2, c->n_heads = 2, c->n_kv_heads = 1, c->ffn = 12, c->ctx = 6;
    c->vocab = 11, c->batch_tokens = 12, c->tokens = 12 * 8, c->tied = tied, c->init_std = 0.3;
    assert_int_equal(le_train_config_check(c, 11), LE_OK);
}

static void whole_model_gradient_should_match_finite_differences(void **state) {
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        struct le_train_config c;
        tiny_config(&c, tied);
        c.portable_kernels = tied; /* the scalar kernels for one of the two */
        struct le_trainer *t;
        assert_int_equal(le_trainer_new(&t, &c, NULL), LE_OK);
        int64_t n, ng;
        float *p = le_trainer_params(t, &n), *g = le_trainer_grads(t, &ng);
        assert_int_equal(n, ng);
        for (int64_t i = 0; i < n; i++) /* norms away from 1 too */
            p[i] += (float)(0.05 * urand());
        int32_t win[2 * 7] = {1, 4, 9, 2, 2, 7, 10, 1, 0, 3, 5, 8, 6, 6};
        double loss;
        assert_int_equal(le_trainer_loss(t, win, 2, 1, &loss), LE_OK);
        struct ref_model r = {.c = c, .C = 8, .H = 2, .G = 1, .D = 4, .KC = 4, .F = 12, .T = 6, .V = 11, .L = 2};
        double *P = malloc(sizeof(double) * n), *num = malloc(sizeof(double) * n), h = 1e-5;
        for (int64_t i = 0; i < n; i++)
            P[i] = p[i];
        double rl = ref_model_loss(&r, P, win, 2);
        assert_true(fabs(loss - rl) < 1e-5 * rl);
        for (int64_t i = 0; i < n; i++) {
            double s = P[i];
            P[i] = s + h;
            double a = ref_model_loss(&r, P, win, 2);
            P[i] = s - h;
            double b = ref_model_loss(&r, P, win, 2);
            P[i] = s;
            num[i] = (a - b) / (2 * h);
        }
        check_close(tied ? "tied model grad" : "untied model grad", g, num, n, 2e-5, 2e-3);
        free(P), free(num);
        le_trainer_free(t);
    }
}

/* ------------------------------------------- determinism, resume, config */

static int32_t *synth_tokens(int64_t n, int64_t V) {
    int32_t *x = malloc(sizeof(int32_t) * n);
    uint64_t s = 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (int32_t)(i % 5 == 0 ? 1 : (x[i > 0 ? i - 1 : 0] * 3 + (int32_t)((s >> 60) & 1) + 2) % V);
    }
    return x;
}

static void small_config(struct le_train_config *c) {
    le_train_config_default(c);
    c->dim = 32, c->n_layers = 2, c->n_heads = 4, c->n_kv_heads = 2, c->ffn = 0, c->ctx = 16;
    c->vocab = 50, c->batch_tokens = 128, c->tokens = 128 * 6, c->lr = 3e-3, c->warmup = 2;
    assert_int_equal(le_train_config_check(c, 50), LE_OK);
}

static void run_steps(struct le_trainer *t, int n, double *losses) {
    for (int i = 0; i < n; i++)
        assert_int_equal(le_trainer_step(t, &losses[i], NULL, NULL), LE_OK);
}

static void training_should_not_depend_on_thread_count(void **state) {
    (void)state;
    struct le_train_config c;
    small_config(&c);
    int32_t *tr = synth_tokens(5000, 50), *va = synth_tokens(400, 50);
    float *ref = NULL;
    double rl[6], rv = 0;
    for (int nth = 1; nth <= 3; nth++) {
        struct le_pool *pool;
        assert_int_equal(le_pool_new(&pool, nth), LE_OK);
        struct le_trainer *t;
        assert_int_equal(le_trainer_new(&t, &c, pool), LE_OK);
        assert_int_equal(le_trainer_set_data(t, tr, 5000, va, 400), LE_OK);
        double l[6], vl;
        run_steps(t, 6, l);
        assert_int_equal(le_trainer_eval(t, 0, &vl, NULL), LE_OK);
        int64_t n;
        float *p = le_trainer_params(t, &n);
        if (!ref) {
            ref = malloc(sizeof(float) * n);
            memcpy(ref, p, sizeof(float) * n);
            memcpy(rl, l, sizeof rl);
            rv = vl;
            assert_true(l[5] < l[0]); /* it learns */
        } else {
            assert_memory_equal(l, rl, sizeof rl);
            assert_memory_equal(p, ref, sizeof(float) * n);
            assert_true(vl == rv);
        }
        le_trainer_free(t);
        le_pool_free(pool);
    }
    free(ref), free(tr), free(va);
}

static void portable_kernels_should_agree_with_simd_to_rounding(void **state) {
    (void)state;
    struct le_train_config c;
    small_config(&c);
    int32_t *tr = synth_tokens(5000, 50), *va = synth_tokens(400, 50);
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 2), LE_OK);
    double l[2][6];
    for (int pk = 0; pk < 2; pk++) {
        c.portable_kernels = pk;
        struct le_trainer *t;
        assert_int_equal(le_trainer_new(&t, &c, pool), LE_OK);
        assert_int_equal(le_trainer_set_data(t, tr, 5000, va, 400), LE_OK);
        run_steps(t, 6, l[pk]);
        le_trainer_free(t);
    }
    for (int i = 0; i < 6; i++)
        if (!(fabs(l[0][i] - l[1][i]) < 1e-4 * l[0][i])) {
            print_error("step %d: simd loss %.9g, portable %.9g\n", i, l[0][i], l[1][i]);
            fail();
        }
    assert_true(l[1][5] < l[1][0]);
    le_pool_free(pool);
    free(tr), free(va);
}

/* The trainer and the inference engine run one set of ops (engine/ops): a
 * checkpoint opened with le_model_open gives the trainer's own logits up to
 * the matmuls' summation order (the trainer's GEMM sums each element in one
 * chain, le_matmul's F32 kernel in 8 lanes and a tree). */
static void checkpoint_logits_should_match_the_trainers_forward(void **state) {
    (void)state;
    int32_t *tr = synth_tokens(5000, 50), *va = synth_tokens(400, 50);
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 2), LE_OK);
    char *dir = le_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    for (int tied = 0; tied < 2; tied++) {
        struct le_train_config c;
        small_config(&c);
        c.tied = tied;
        struct le_trainer *t;
        double losses[4], loss;
        assert_int_equal(le_trainer_new(&t, &c, pool), LE_OK);
        assert_int_equal(le_trainer_set_data(t, tr, 5000, va, 400), LE_OK);
        run_steps(t, 4, losses);
        assert_int_equal(le_trainer_save(t, path, NULL, NAN, NAN), LE_OK);
        int64_t T = c.ctx, V = c.vocab;
        assert_int_equal(le_trainer_loss(t, va, 1, 0, &loss), LE_OK); /* one window: va[0 .. T] */
        const float *want = le_trainer_logits(t);

        struct le_model *m;
        struct le_ctx *ctx;
        assert_int_equal(le_model_open(&m, path), LE_OK);
        assert_int_equal(le_ctx_new(&ctx, m, (int)T, (int)T, pool), LE_OK);
        assert_int_equal(le_ctx_eval(ctx, va, (int)T, 0, 1), LE_OK);
        const float *got = le_ctx_logits(ctx);
        double maxd = 0, maxa = 0;
        for (int64_t i = 0; i < T * V; i++) {
            double d = fabs((double)got[i] - want[i]);
            maxd = d > maxd ? d : maxd;
            maxa = fabs(want[i]) > maxa ? fabs(want[i]) : maxa;
        }
        if (!(maxd <= 1e-5 * maxa + 1e-6)) {
            print_error("tied %d: logits differ by %.3g (largest logit %.3g)\n", tied, maxd, maxa);
            fail();
        }
        le_ctx_free(ctx);
        le_model_free(m);
        le_trainer_free(t);
    }
    le_test_rmdir(dir);
    free(dir);
    le_pool_free(pool);
    free(tr), free(va);
}

static void resumed_run_should_equal_uninterrupted_bit_for_bit(void **state) {
    (void)state;
    struct le_train_config c;
    small_config(&c);
    int32_t *tr = synth_tokens(5000, 50), *va = synth_tokens(400, 50);
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 2), LE_OK);
    char *dir = le_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/m.gguf", dir);

    struct le_trainer *a, *b;
    double la[6], lb[6];
    assert_int_equal(le_trainer_new(&a, &c, pool), LE_OK);
    assert_int_equal(le_trainer_set_data(a, tr, 5000, va, 400), LE_OK);
    run_steps(a, 6, la);

    assert_int_equal(le_trainer_new(&b, &c, pool), LE_OK);
    assert_int_equal(le_trainer_set_data(b, tr, 5000, va, 400), LE_OK);
    run_steps(b, 3, lb);
    assert_int_equal(le_trainer_save(b, path, NULL, NAN, NAN), LE_OK);
    le_trainer_free(b);

    assert_int_equal(le_trainer_new(&b, &c, pool), LE_OK);
    assert_int_equal(le_trainer_set_data(b, tr, 5000, va, 400), LE_OK);
    assert_int_equal(le_trainer_resume(b, path), LE_OK);
    assert_int_equal(le_trainer_step_index(b), 3);
    run_steps(b, 3, lb + 3);
    assert_memory_equal(la, lb, sizeof la);
    int64_t n;
    float *pa = le_trainer_params(a, &n), *pb = le_trainer_params(b, &n);
    assert_memory_equal(pa, pb, sizeof(float) * n);

    /* The checkpoint is a llama GGUF with the training metadata. */
    struct le_gguf *g;
    assert_int_equal(le_gguf_open(&g, path), LE_OK);
    uint32_t u;
    int64_t i64;
    assert_int_equal(le_gguf_get_u32(g, "llama.block_count", &u), LE_OK);
    assert_int_equal(u, 2);
    assert_int_equal(le_gguf_get_u32(g, "llama.attention.head_count_kv", &u), LE_OK);
    assert_int_equal(u, 2);
    assert_int_equal(le_gguf_get_i64(g, "llamaeval.train.tokens_seen", &i64), LE_OK);
    assert_int_equal(i64, 3 * 128);
    assert_non_null(le_gguf_find_tensor(g, "blk.1.ffn_down.weight"));
    assert_null(le_gguf_find_tensor(g, "output.weight")); /* tied */
    le_gguf_close(g);

    /* A different config refuses to resume. */
    struct le_train_config c2 = c;
    c2.lr = 1e-2;
    struct le_trainer *d;
    assert_int_equal(le_trainer_new(&d, &c2, pool), LE_OK);
    assert_int_equal(le_trainer_set_data(d, tr, 5000, va, 400), LE_OK);
    assert_int_not_equal(le_trainer_resume(d, path), LE_OK);
    assert_non_null(strstr(le_err_msg(), "different"));
    le_trainer_free(d);

    le_trainer_free(a);
    le_trainer_free(b);
    le_pool_free(pool);
    le_test_rmdir(dir);
    free(dir), free(tr), free(va);
}

/* Replaces every "NUL@" in the file with the bytes "N\0L@" (lengths kept). */
static void put_nul_bytes(const char *path) {
    size_t n;
    char *b = le_test_read_file(path, &n);
    assert_non_null(b);
    int hits = 0;
    for (size_t i = 0; i + 4 <= n; i++)
        if (!memcmp(b + i, "NUL@", 4))
            b[i + 1] = 0, hits++;
    assert_int_equal(hits, 2);
    assert_int_equal(le_test_write_file(path, b, n), 0);
    free(b);
}

static void checkpoint_should_copy_tokenizer_keys_byte_for_byte(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), tp[4096], mp[4096];
    snprintf(tp, sizeof tp, "%s/tok.gguf", dir);
    snprintf(mp, sizeof mp, "%s/m.gguf", dir);
    /* A tokenizer file with every scalar width, and strings holding NUL bytes. */
    struct le_gguf_writer *w;
    assert_int_equal(le_gguf_writer_new(&w), LE_OK);
    uint8_t u8 = 200;
    int16_t i16 = -3;
    int64_t i64 = -5000000000LL;
    double f64 = 1.0 / 3.0;
    const char *toks[] = {"<unk>", "a", "bNUL@c", "\xe2\x96\x81the"};
    float scores[] = {0, -1, -2.5f, -3};
    assert_int_equal(le_gguf_set_str(w, "general.architecture", "llama"), LE_OK);
    assert_int_equal(le_gguf_set_str(w, "tokenizer.ggml.model", "llama"), LE_OK);
    assert_int_equal(le_gguf_set_arr_str(w, "tokenizer.ggml.tokens", 4, toks), LE_OK);
    assert_int_equal(le_gguf_set_arr(w, "tokenizer.ggml.scores", LE_GGUF_F32, 4, scores), LE_OK);
    assert_int_equal(le_gguf_set_val(w, "tokenizer.test.u8", LE_GGUF_U8, &u8), LE_OK);
    assert_int_equal(le_gguf_set_val(w, "tokenizer.test.i16", LE_GGUF_I16, &i16), LE_OK);
    assert_int_equal(le_gguf_set_val(w, "tokenizer.test.i64", LE_GGUF_I64, &i64), LE_OK);
    assert_int_equal(le_gguf_set_f64(w, "tokenizer.test.f64", f64), LE_OK);
    assert_int_equal(le_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1), LE_OK);
    assert_int_equal(le_gguf_set_str(w, "tokenizer.test.str", "xNUL@y"), LE_OK);
    assert_int_equal(le_gguf_set_str(w, "other.key", "not copied"), LE_OK);
    assert_int_equal(le_gguf_write(w, tp), LE_OK);
    le_gguf_writer_free(w);
    put_nul_bytes(tp);

    struct le_train_config c;
    tiny_config(&c, 1);
    struct le_trainer *t;
    assert_int_equal(le_trainer_new(&t, &c, NULL), LE_OK);
    struct le_gguf *tok, *m;
    assert_int_equal(le_gguf_open(&tok, tp), LE_OK);
    assert_int_equal(le_trainer_save(t, mp, tok, NAN, NAN), LE_OK);
    assert_int_equal(le_gguf_open(&m, mp), LE_OK);
    int64_t n_src = 0, n_dst = 0;
    for (int64_t i = 0; i < le_gguf_n_kv(tok); i++) {
        const char *key = le_gguf_kv_key(tok, i);
        if (strncmp(key, "tokenizer.", 10))
            continue;
        n_src++;
        int64_t j = le_gguf_find_key(m, key);
        if (j < 0) {
            print_error("%s missing from the checkpoint\n", key);
            fail();
        }
        uint64_t na, nb;
        const void *a = le_gguf_kv_data(tok, i, &na), *b = le_gguf_kv_data(m, j, &nb);
        assert_int_equal(le_gguf_kv_type(m, j), le_gguf_kv_type(tok, i));
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
    }
    for (int64_t j = 0; j < le_gguf_n_kv(m); j++)
        n_dst += strncmp(le_gguf_kv_key(m, j), "tokenizer.", 10) == 0;
    assert_int_equal(n_src, 9);
    assert_int_equal(n_dst, n_src);
    assert_true(le_gguf_find_key(m, "other.key") < 0);
    const char *s;
    uint64_t len;
    assert_int_equal(le_gguf_get_str(m, "tokenizer.test.str", &s, &len), LE_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "xN\0L@y", 6);
    le_gguf_close(m);
    le_gguf_close(tok);
    le_trainer_free(t);
    le_test_rmdir(dir);
    free(dir);
}

static void lr_schedule_should_warm_up_then_reach_ten_percent_at_last_step(void **state) {
    (void)state;
    struct le_train_config c;
    small_config(&c);
    c.tokens = 128 * 50, c.warmup = 5;
    assert_int_equal(le_train_config_check(&c, 50), LE_OK);
    assert_int_equal(le_train_n_steps(&c), 50);
    assert_true(fabs(le_train_lr_at(&c, 0) - c.lr / 5) < 1e-12);
    assert_true(fabs(le_train_lr_at(&c, 4) - c.lr) < 1e-12);
    assert_true(fabs(le_train_lr_at(&c, 5) - c.lr) < 1e-12);
    assert_true(fabs(le_train_lr_at(&c, 49) - 0.1 * c.lr) < 1e-12);
    for (int s = 5; s < 49; s++)
        assert_true(le_train_lr_at(&c, s + 1) < le_train_lr_at(&c, s));
}

/* Sizes each within its bound whose product (the attention probabilities,
 * batch x heads x ctx x ctx) does not fit int64: refused, not wrapped. */
static void trainer_should_refuse_a_memory_plan_that_overflows(void **state) {
    (void)state;
    struct le_train_config c;
    le_train_config_default(&c);
    c.dim = LE_TRAIN_MAX_DIM, c.n_heads = LE_TRAIN_MAX_DIM / 2, c.n_layers = 1, c.ffn = 16, c.ctx = 65536;
    c.batch_tokens = c.tokens = LE_TRAIN_MAX_BATCH_TOKENS, c.vocab = 300;
    assert_int_equal(le_train_config_check(&c, 300), LE_OK);
    struct le_trainer *t = NULL;
    assert_int_equal(le_trainer_new(&t, &c, NULL), LE_EINVAL);
    assert_null(t);
    assert_non_null(strstr(le_err_msg(), "too large"));
}

static void bad_configs_should_be_refused_with_a_clear_message(void **state) {
    (void)state;
    struct {
        const char *what, *msg;
    } cases[] = {
        {"layers0", "--layers"}, {"heads3", "does not divide --dim"}, {"kv3", "does not divide --heads"},
        {"vocab", "larger than the tokenizer"}, {"budget", "smaller than one batch"}, {"lr", "out of range"},
        {"bigbatch", "--batch-tokens must be in 1..1073741824"}, {"bigdim", "--dim must be in 2..1048576"},
        {"bigffn", "--ffn must be in"}, {"biglayers", "--layers must be in"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct le_train_config c;
        le_train_config_default(&c);
        int64_t tokv = 1024;
        if (!strcmp(cases[i].what, "layers0")) c.n_layers = 0;
        if (!strcmp(cases[i].what, "heads3")) c.n_heads = 3;
        if (!strcmp(cases[i].what, "kv3")) c.n_kv_heads = 3;
        if (!strcmp(cases[i].what, "vocab")) c.vocab = 2000;
        if (!strcmp(cases[i].what, "budget")) c.tokens = 1000;
        if (!strcmp(cases[i].what, "lr")) c.lr = -1;
        if (!strcmp(cases[i].what, "bigbatch")) /* wrapped the arena size (issue 12, defect 1) */
            c.batch_tokens = c.tokens = 576460752303423488LL, c.dim = 16, c.n_heads = 8, c.ffn = 16, c.ctx = 2;
        if (!strcmp(cases[i].what, "bigdim")) c.dim = 4294967296LL, c.n_heads = 2; /* overflowed the counts */
        if (!strcmp(cases[i].what, "bigffn")) c.ffn = INT64_MAX / 2;
        if (!strcmp(cases[i].what, "biglayers")) c.n_layers = INT64_MAX / 3;
        assert_int_equal(le_train_config_check(&c, tokv), LE_EINVAL);
        if (!strstr(le_err_msg(), cases[i].msg)) {
            print_error("%s: message '%s' lacks '%s'\n", cases[i].what, le_err_msg(), cases[i].msg);
            fail();
        }
    }
    assert_int_not_equal(le_train_check_output("/nonexistent-dir/x/m.gguf"), LE_OK);
    assert_non_null(strstr(le_err_msg(), "cannot write"));
    char *dir = le_test_tmpdir();
    assert_int_not_equal(le_train_check_output(dir), LE_OK); /* a directory */
    char p[4096];
    snprintf(p, sizeof p, "%s/ok.gguf", dir);
    assert_int_equal(le_train_check_output(p), LE_OK);
    struct stat st;
    assert_int_not_equal(stat(p, &st), 0); /* the probe leaves nothing */
    le_test_rmdir(dir);
    free(dir);
}

/* ------------------------------------------------------ the command line */

/* A tokenizer and train/valid text files in dir, for CLI runs. */
static void cli_fixture(const char *dir) {
    size_t cap = 60000, n = 0;
    char *text = malloc(cap + 1);
    uint64_t s = 3;
    const char *words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "home"};
    while (n + 16 < cap) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *w = words[(s >> 59) % 12];
        n += (size_t)sprintf(text + n, "%s%s", w, (s >> 40) % 11 == 0 ? ".\n" : " ");
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/train.txt", dir);
    assert_int_equal(le_test_write_file(p, text, n), 0);
    snprintf(p, sizeof p, "%s/valid.txt", dir);
    assert_int_equal(le_test_write_file(p, text + n / 2, n / 4), 0);
    struct le_bpe_opts o;
    le_bpe_opts_default(&o);
    o.vocab_size = 300;
    const char *t = text;
    struct le_bpe_vocab *v;
    assert_int_equal(le_bpe_train(&v, &t, &n, 1, &o), LE_OK);
    snprintf(p, sizeof p, "%s/tok.gguf", dir);
    assert_int_equal(le_bpe_write_gguf(v, p, "test"), LE_OK);
    le_bpe_vocab_free(v);
    free(text);
}

#define CLI_BASE "'%s' train --tokenizer '%s/tok.gguf' --train-file '%s/train.txt' --valid-file '%s/valid.txt' " \
                 "--dim 16 --layers 1 --heads 2 --ctx 16 --batch-tokens 64 --tokens 384 --threads 2 --quiet"

static void cli_train_should_refuse_bad_configs_before_any_work(void **state) {
    (void)state;
    char *dir = le_test_tmpdir();
    cli_fixture(dir);
    struct {
        const char *flags, *msg;
        int code;
    } cases[] = {
        {"--layers 0", "--layers wants an integer >= 1, got '0'", 2},
        {"--heads 3", "--heads 3 does not divide --dim 16", 2},
        {"--kv-heads 3", "does not divide --heads", 2},
        {"--vocab 5000", "larger than the tokenizer's vocabulary (300)", 2},
        {"--tokens 32", "smaller than one batch", 2},
        {"--batch-tokens 576460752303423488 --tokens 576460752303423488 --dim 16 --heads 8 --ffn 16 --ctx 2",
         "--batch-tokens must be in", 2},
        {"--dim 4294967296", "--dim must be in", 2},
        {"--out /nonexistent-dir/m.gguf", "cannot write /nonexistent-dir/m.gguf", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        int rc = le_test_sh(&out, CLI_BASE " --out '%s/bad.gguf' %s", le_test_bin(), dir, dir, dir, dir,
                            cases[i].flags);
        if (rc != cases[i].code || !out || !strstr(out, cases[i].msg) || !strstr(out, "llamaeval: error: ")) {
            print_error("%s: exit %d, output:\n%s\n", cases[i].flags, rc, out ? out : "");
            fail();
        }
        free(out);
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/bad.gguf", dir);
        assert_int_not_equal(stat(p, &st), 0); /* nothing written */
    }
    le_test_rmdir(dir);
    free(dir);
}

static void cli_resumed_run_should_write_the_same_checkpoint_bytes(void **state) {
    (void)state;
    char *dir = le_test_tmpdir(), *out = NULL;
    cli_fixture(dir);
    int rc = le_test_sh(&out, CLI_BASE " --out '%s/a.gguf'", le_test_bin(), dir, dir, dir, dir);
    if (rc != 0)
        print_error("%s\n", out ? out : "");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "held-out loss"));
    free(out);
    rc = le_test_sh(&out, CLI_BASE " --out '%s/b.gguf' --stop-after 2 --threads 1", le_test_bin(), dir, dir, dir,
                    dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "stopped at step 2 of 6"));
    free(out);
    rc = le_test_sh(&out, CLI_BASE " --out '%s/b.gguf' --resume", le_test_bin(), dir, dir, dir, dir);
    assert_int_equal(rc, 0);
    free(out);
    /* Issue 12, defect 6: SIGINT during step 3 (the LE_TEST_SIGNAL_AT_STEP seam
     * raises it and waits until the job saw it) writes a checkpoint, ends the
     * run "interrupted", exits 1; --resume from it ends with a's bytes. */
    rc = le_test_sh(&out, "LE_TEST_SIGNAL_AT_STEP=3 " CLI_BASE " --out '%s/c.gguf' --db '%s/c.sqlite'", le_test_bin(),
                    dir, dir, dir, dir, dir);
    if (rc != 1 || !strstr(out, "llamaeval: error: interrupted at step 2 of 6: checkpoint"))
        fail_msg("exit %d: %s", rc, out);
    free(out);
    rc = le_test_sh(&out, "'%s' db runs --db '%s/c.sqlite'", le_test_bin(), dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, " train     interrupted "));
    free(out);
    rc = le_test_sh(&out, CLI_BASE " --out '%s/c.gguf' --resume --db '%s/c.sqlite'", le_test_bin(), dir, dir, dir,
                    dir, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "from step 2"));
    free(out);
    rc = le_test_sh(&out, "'%s' db runs --db '%s/c.sqlite'", le_test_bin(), dir);
    assert_non_null(strstr(out, " train     ok "));
    free(out);
    const char *suffix[] = {"gguf", "gguf.opt", "gguf", "gguf.opt"};
    for (int i = 0; i < 4; i++) {
        char pa[4096], pb[4096];
        size_t na, nb;
        snprintf(pa, sizeof pa, "%s/a.%s", dir, suffix[i]);
        snprintf(pb, sizeof pb, "%s/%c.%s", dir, i < 2 ? 'b' : 'c', suffix[i]);
        char *a = le_test_read_file(pa, &na), *b = le_test_read_file(pb, &nb);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        free(a), free(b);
    }
    le_test_rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemm_should_match_scalar_reference_for_three_forms),
        cmocka_unit_test(rmsnorm_gradient_should_match_finite_differences),
        cmocka_unit_test(rope_and_its_backward_should_match_reference),
        cmocka_unit_test(attention_gradient_should_match_finite_differences),
        cmocka_unit_test(swiglu_gradient_should_match_finite_differences),
        cmocka_unit_test(cross_entropy_gradient_should_match_finite_differences),
        cmocka_unit_test(embedding_backward_should_sum_rows_per_token),
        cmocka_unit_test(whole_model_gradient_should_match_finite_differences),
        cmocka_unit_test(training_should_not_depend_on_thread_count),
        cmocka_unit_test(portable_kernels_should_agree_with_simd_to_rounding),
        cmocka_unit_test(checkpoint_logits_should_match_the_trainers_forward),
        cmocka_unit_test(resumed_run_should_equal_uninterrupted_bit_for_bit),
        cmocka_unit_test(checkpoint_should_copy_tokenizer_keys_byte_for_byte),
        cmocka_unit_test(lr_schedule_should_warm_up_then_reach_ten_percent_at_last_step),
        cmocka_unit_test(bad_configs_should_be_refused_with_a_clear_message),
        cmocka_unit_test(trainer_should_refuse_a_memory_plan_that_overflows),
        cmocka_unit_test(cli_train_should_refuse_bad_configs_before_any_work),
        cmocka_unit_test(cli_resumed_run_should_write_the_same_checkpoint_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
