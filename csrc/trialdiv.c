/* Trial division by primes up to the square root (see trialdiv.h for the contract).
 * Plain C99; no target-specific code, so it builds for an ARMv6 Pi as for x86. */
#include "trialdiv.h"

/* The residues prime to 30, and the gaps from each to the next. */
static const uint32_t WHEEL[8] = {1, 7, 11, 13, 17, 19, 23, 29};
static const uint32_t WHEEL_GAP[8] = {6, 4, 2, 4, 2, 4, 6, 2};

/* The first wheel candidate above `limit`: value and its index in WHEEL. */
static uint64_t wheel_start(uint32_t limit, int *k) {
    uint64_t base = (uint64_t)limit / 30 * 30;
    for (;;) {
        for (int i = 0; i < 8; i++) {
            if (base + WHEEL[i] > limit) {
                *k = i;
                return base + WHEEL[i];
            }
        }
        base += 30;
    }
}

static int is_prime_u64(uint64_t n, const uint32_t *primes, size_t nprimes,
                        uint32_t table_limit) {
    if (n < 2) {
        return 0;
    }
    if (n <= UINT32_MAX) {
        /* 32-bit division where the number allows it. */
        uint32_t m = (uint32_t)n;
        for (size_t i = 0; i < nprimes; i++) {
            uint32_t p = primes[i];
            uint32_t q = m / p;
            if (q < p) {
                return 1;
            }
            if (q * p == m) {
                return 0;
            }
        }
    } else {
        for (size_t i = 0; i < nprimes; i++) {
            uint64_t p = primes[i];
            uint64_t q = n / p;
            if (q < p) {
                return 1;
            }
            if (q * p == n) {
                return 0;
            }
        }
    }
    int k;
    uint64_t d = wheel_start(table_limit, &k);
    for (;;) {
        uint64_t q = n / d;
        if (q < d) {
            return 1;
        }
        if (q * d == n) {
            return 0;
        }
        d += WHEEL_GAP[k];
        k = (k + 1) & 7;
    }
}

size_t pc_trial_primes_u64(uint64_t lo, uint64_t hi, const uint32_t *primes,
                           size_t nprimes, uint32_t table_limit, uint64_t *out) {
    size_t count = 0;
    for (uint64_t n = lo;; n++) {
        if (is_prime_u64(n, primes, nprimes, table_limit)) {
            out[count++] = n;
        }
        if (n == hi) {
            break;
        }
    }
    return count;
}

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;

static int is_prime_u128(u128 n, const uint32_t *primes, size_t nprimes,
                         uint32_t table_limit) {
    if (n <= UINT64_MAX) {
        return is_prime_u64((uint64_t)n, primes, nprimes, table_limit);
    }
    for (size_t i = 0; i < nprimes; i++) {
        u128 p = primes[i];
        u128 q = n / p;
        if (q < p) {
            return 1;
        }
        if (q * p == n) {
            return 0;
        }
    }
    int k;
    u128 d = wheel_start(table_limit, &k);
    for (;;) {
        u128 q = n / d;
        if (q < d) {
            return 1;
        }
        if (q * d == n) {
            return 0;
        }
        d += WHEEL_GAP[k];
        k = (k + 1) & 7;
    }
}

int pc_trial_has_u128(void) { return 1; }

size_t pc_trial_primes_u128(uint64_t lo_low, uint64_t lo_high, uint64_t hi_low,
                            uint64_t hi_high, const uint32_t *primes, size_t nprimes,
                            uint32_t table_limit, uint64_t *out) {
    u128 lo = ((u128)lo_high << 64) | lo_low;
    u128 hi = ((u128)hi_high << 64) | hi_low;
    size_t count = 0;
    for (u128 n = lo;; n++) {
        if (is_prime_u128(n, primes, nprimes, table_limit)) {
            out[2 * count] = (uint64_t)n;
            out[2 * count + 1] = (uint64_t)(n >> 64);
            count++;
        }
        if (n == hi) {
            break;
        }
    }
    return count;
}
#else
int pc_trial_has_u128(void) { return 0; }

size_t pc_trial_primes_u128(uint64_t lo_low, uint64_t lo_high, uint64_t hi_low,
                            uint64_t hi_high, const uint32_t *primes, size_t nprimes,
                            uint32_t table_limit, uint64_t *out) {
    (void)lo_low, (void)lo_high, (void)hi_low, (void)hi_high;
    (void)primes, (void)nprimes, (void)table_limit, (void)out;
    return 0;
}
#endif
