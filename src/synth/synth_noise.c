/*
 * synth_noise.c - keyed gradient noise and fractal sums for the generator.
 *
 * Why gradient (Perlin-style) noise: it has no visible lattice blocks at
 * any zoom, costs four hashes per sample, and is a pure function of
 * (key, x, y), so any cell of any region can be evaluated alone, in any
 * thread, with the same result. Gradients are 16 unit vectors picked by a
 * splitmix64 hash of the lattice point and the key; interpolation uses the
 * quintic fade 6t^5 - 15t^4 + 10t^3 (continuous second derivative, so
 * slopes computed from the terrain show no creases).
 *
 * Octaves of a fractal sum each get their own key and a fixed irrational
 * offset, so that octaves never line up at the origin.
 */
#include <math.h>
#include <stdint.h>

#include "synth_priv.h"

static const float GRAD_X[16] = {1.f,        0.92387953f,  0.70710678f,  0.38268343f, 0.f,         -0.38268343f,
                                 -0.70710678f, -0.92387953f, -1.f,         -0.92387953f, -0.70710678f, -0.38268343f,
                                 0.f,        0.38268343f,  0.70710678f,  0.92387953f};
static const float GRAD_Y[16] = {0.f,         0.38268343f,  0.70710678f,  0.92387953f,  1.f,         0.92387953f,
                                 0.70710678f,  0.38268343f,  0.f,         -0.38268343f, -0.70710678f, -0.92387953f,
                                 -1.f,        -0.92387953f, -0.70710678f, -0.38268343f};

static inline unsigned lattice(uint64_t key, int64_t ix, int64_t iy)
{
    uint64_t h = syn_mix(key ^ ((uint64_t)ix * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)iy * 0xC2B2AE3D27D4EB4Full));
    return (unsigned)(h >> 60);
}

static inline float fade(float t) { return t * t * t * (t * (t * 6.f - 15.f) + 10.f); }

float gpn__syn_noise(uint64_t key, double x, double y)
{
    double fx = floor(x), fy = floor(y);
    int64_t ix = (int64_t)fx, iy = (int64_t)fy;
    float tx = (float)(x - fx), ty = (float)(y - fy);
    unsigned g00 = lattice(key, ix, iy), g10 = lattice(key, ix + 1, iy);
    unsigned g01 = lattice(key, ix, iy + 1), g11 = lattice(key, ix + 1, iy + 1);
    float n00 = GRAD_X[g00] * tx + GRAD_Y[g00] * ty;
    float n10 = GRAD_X[g10] * (tx - 1.f) + GRAD_Y[g10] * ty;
    float n01 = GRAD_X[g01] * tx + GRAD_Y[g01] * (ty - 1.f);
    float n11 = GRAD_X[g11] * (tx - 1.f) + GRAD_Y[g11] * (ty - 1.f);
    float u = fade(tx), v = fade(ty);
    float a = n00 + u * (n10 - n00);
    float b = n01 + u * (n11 - n01);
    return 1.41421356f * (a + v * (b - a));
}

float gpn__syn_fbm(uint64_t key, double x, double y, double scale, int oct, float g)
{
    double f = 1.0 / scale;
    float amp = 1.f, sum = 0.f, norm = 0.f;
    for (int o = 0; o < oct; o++) {
        uint64_t k = syn_mix(key + (uint64_t)o * 0x632BE59BD9B4E019ull);
        sum += amp * gpn__syn_noise(k, x * f + 0.3183098861 * o, y * f + 0.7071067812 * o);
        norm += amp;
        amp *= g;
        f *= 2.0;
    }
    return sum / norm;
}

float gpn__syn_ridged(uint64_t key, double x, double y, double scale, int oct)
{
    double f = 1.0 / scale;
    float amp = 1.f, sum = 0.f, norm = 0.f, weight = 1.f;
    for (int o = 0; o < oct; o++) {
        uint64_t k = syn_mix(key + (uint64_t)o * 0x632BE59BD9B4E019ull);
        float n = 1.f - fabsf(gpn__syn_noise(k, x * f + 0.5772156649 * o, y * f + 0.1415926536 * o));
        n = n * n * weight;
        weight = n * 1.5f;
        if (weight > 1.f) weight = 1.f;
        sum += amp * n;
        norm += amp;
        amp *= 0.5f;
        f *= 2.0;
    }
    return sum / norm;
}
