/* rng.h - the tests' seeded PRNG (splitmix64): same seed, same sequence. */
#ifndef NESTMMU_TESTS_MEM_RNG_H
#define NESTMMU_TESTS_MEM_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for test purposes (n > 0). */
static inline uint64_t rng_below(uint64_t *state, uint64_t n)
{
	return rng_next(state) % n;
}

#endif
