/* Trial division by primes up to the square root: the C kernel behind
 * src/kernel/trial.rs (which holds the Rust twin; both must give identical output).
 *
 * Contract, for every function: each n in [lo, hi] (inclusive, lo <= hi) is tested;
 * the primes among them are written to `out` ascending and their number is returned.
 * `out` must have room for hi - lo + 1 numbers (u64) or pairs (u128).
 *
 * Divisors: `primes` holds every prime up to `table_limit` (>= 7), ascending, 2 first
 * (the caller makes it). A number whose square root passes the table goes on with the
 * candidates of a 2,3,5 wheel (numbers prime to 30) past `table_limit`: those are the
 * primes plus composites whose prime factors were already tried, so the outcome is that
 * of trial division by primes. Each step takes q = n / d once: q < d means d > sqrt(n)
 * (n is prime), q * d == n means d divides n. No square roots, no overflow. */
#ifndef PRIMECLUSTER_TRIALDIV_H
#define PRIMECLUSTER_TRIALDIV_H

#include <stddef.h>
#include <stdint.h>

size_t pc_trial_primes_u64(uint64_t lo, uint64_t hi, const uint32_t *primes,
                           size_t nprimes, uint32_t table_limit, uint64_t *out);

/* 1 when pc_trial_primes_u128 is implemented (the compiler has unsigned __int128),
 * else 0; then pc_trial_primes_u128 writes nothing and returns 0. */
int pc_trial_has_u128(void);

/* As above for u128 numbers, each given and written as (low 64 bits, high 64 bits). */
size_t pc_trial_primes_u128(uint64_t lo_low, uint64_t lo_high, uint64_t hi_low,
                            uint64_t hi_high, const uint32_t *primes, size_t nprimes,
                            uint32_t table_limit, uint64_t *out);

#endif
