/* Unit tests of the sliding-window limiter (dataplane/ratelimit.c): the
 * arithmetic at fixed instants, and the counter table over simulated time. */
#include "ratelimit.h"

#include <criterion/criterion.h>

Test(rl_decide, admits_up_to_the_limit_in_a_fresh_window)
{
    dp_rl_result_t r;
    dp_rl_decide(10, 60, 600, 0, 9, 630, &r);
    cr_expect(r.allowed);
    cr_expect_eq(r.remaining, 0);
    cr_expect_eq(r.reset, 30);
    dp_rl_decide(10, 60, 600, 0, 10, 630, &r);
    cr_expect_not(r.allowed);
    cr_expect_eq(r.retry_after, 30 + 6, "next window: 10 in prev must slide to <= 9");
}

Test(rl_decide, the_previous_window_slides_out)
{
    dp_rl_result_t r;
    /* 10 in the previous window, a quarter into this one: estimate 7.5 */
    dp_rl_decide(10, 60, 600, 10, 0, 615, &r);
    cr_expect(r.allowed);
    cr_expect_eq(r.remaining, 1);
    dp_rl_decide(10, 60, 600, 10, 2, 615, &r);
    cr_expect_not(r.allowed, "7.5 + 2 + 1 > 10");
    cr_expect_eq(r.retry_after, 3, "10 * (1 - t/60) + 2 <= 9 at t = 18 s: 3 s from now");
}

Test(rl_take, counts_per_key_and_rolls_windows)
{
    dp_rl_result_t r;
    int admitted = 0;
    for (int i = 0; i < 20; i++) {
        dp_rl_take("prf_a", 5, 1, 1000.10 + i * 0.01, &r);
        admitted += r.allowed;
    }
    cr_expect_eq(admitted, 5);
    dp_rl_take("prf_b", 5, 1, 1000.5, &r);
    cr_expect(r.allowed, "another key has its own counter");
    /* two windows later nothing of the old counts remains */
    dp_rl_take("prf_a", 5, 1, 1002.5, &r);
    cr_expect(r.allowed);
    cr_expect_eq(r.remaining, 4);
}

Test(rl_take, steady_overload_admits_the_limit_per_window)
{
    dp_rl_result_t r;
    /* 10 tries per 100 ms against 20/second for 10 seconds */
    int per_window[12] = {0};
    for (int i = 0; i < 1000; i++) {
        double now = 5000.0 + i * 0.01;
        dp_rl_take("prf_steady", 20, 1, now, &r);
        if (r.allowed) per_window[(int)(now - 5000.0)]++;
    }
    for (int w = 1; w < 10; w++)
        cr_expect(per_window[w] >= 18 && per_window[w] <= 22, "second %d admitted %d", w,
                  per_window[w]);
}
