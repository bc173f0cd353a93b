/* The attribute macros every C file of stabkit._native._kernels uses
 * (GCC and Clang spellings; setup.py builds with -std=gnu11).
 *
 * FORCE_INLINE   written after `static`: a helper inlined into every caller,
 *                so that the loops calling it vectorise as one body.
 * EXPORT         a symbol that ctypes looks up (stabkit/_native/load.py).
 * NOINLINE       a function kept out of its callers (so that its own
 *                compile options stay its own).
 * HIDDEN         a symbol shared between the files of the library and kept
 *                out of its table (GCC's target_clones needs an ifunc symbol,
 *                so a cloned function cannot be static).
 * CLONES         on x86-64 with GCC and glibc, the function compiled for
 *                AVX-512, AVX2 and the baseline, the loader picking the one
 *                the processor runs; the same IEEE operations in each, so
 *                the same bits. Elsewhere (Clang, macOS, other processors)
 *                one version. A test build may define STABKIT_NO_CLONES to
 *                get one version (compiled for its -march) and compare it
 *                with the others; a file whose clones it never turned off
 *                (the row passes, the trainer's step) defines
 *                STABKIT_ALWAYS_CLONES before including this header.
 * CONTRACT_FMA   with GCC, a function whose multiplies and adds may fuse
 *                into FMAs (in the clones whose processor has them: the
 *                AVX-512 one) although the build says -ffp-contract=off.
 *                Only for code whose result does not depend on how its
 *                products round: the fast pass of _elementwise.c, whose
 *                rounding test decides the bits.
 */
#ifndef STABKIT_COMMON_H
#define STABKIT_COMMON_H

#define FORCE_INLINE inline __attribute__((always_inline))
#define EXPORT __attribute__((visibility("default")))
#define HIDDEN __attribute__((visibility("hidden")))
#define NOINLINE __attribute__((noinline))

/* CLONES: one AVX-512, AVX2 and baseline copy each, picked at load time. A
 * function such a clone calls out of line must carry CLONES too: a call
 * from AVX-512 code into baseline SSE code pays a state switch (~180 ns a
 * call measured on an Intel Xeon, sigmoid's far path). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) &&                    \
    (defined(STABKIT_ALWAYS_CLONES) || !defined(STABKIT_NO_CLONES))
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define CONTRACT_FMA __attribute__((optimize("fp-contract=fast")))
#else
#define CONTRACT_FMA
#endif

#endif
