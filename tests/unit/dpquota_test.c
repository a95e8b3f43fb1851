/* Unit tests of the node side of quotas (dataplane/quota.c): a node admits
 * only against its lease, never more than `chunk` beyond the acknowledged
 * use, says exceeded when the control plane has nothing left, stops using a
 * lease ttl/2 after the last answer, and reports what it used. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "ap_msg.h"
#include "ap_hash.h"
#include "quota.h"

static void ack1(const char *profile, uint64_t id, uint64_t granted, uint64_t acked, uint64_t chunk,
                 int exhausted, uint32_t ttl_ms)
{
    Apiplatform__V1__Lease l = APIPLATFORM__V1__LEASE__INIT, *lp = &l;
    l.profile_id = (char *)profile;
    l.lease_id = id;
    l.granted = granted;
    l.acked_used = acked;
    l.chunk = chunk;
    l.limit = 1000;
    l.period_used = acked;
    l.period = APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY;
    l.period_start = 0;
    l.period_end = 86400;
    l.seconds_left = 3600;
    l.exhausted = exhausted;
    l.ttl_ms = ttl_ms;
    Apiplatform__V1__ReportAck a = APIPLATFORM__V1__REPORT_ACK__INIT;
    a.leases = &lp;
    a.n_leases = 1;
    dp_quota_apply_ack(&a);
}

static void setup(void)
{
    dp_quota_reset();
    dp_quota_set_wait_ms(20);
    dp_quota_set_idle_ms(10000);
    dp_quota_set_connected(1);
}

TestSuite(dpquota, .init = setup);

static int take(const char *p)
{
    dp_quota_result_t r;
    dp_quota_take(p, &r);
    return r.outcome;
}

Test(dpquota, no_lease_no_admission)
{
    cr_expect_eq(take("p1"), DP_QUOTA_UNAVAILABLE, "no lease: waits, then 503");
    cr_expect(dp_quota_report_due(), "a lease request is due");
    Apiplatform__V1__UsageReport *r =
        (Apiplatform__V1__UsageReport *)ap_msg_new(&apiplatform__v1__usage_report__descriptor);
    dp_quota_fill_report(r, 0);
    cr_expect_eq(r->n_requests, 1);
    cr_expect_str_eq(r->requests[0]->profile_id, "p1");
    ap_msg_free(&r->base);
    dp_quota_set_connected(0);
    cr_expect_eq(take("p1"), DP_QUOTA_UNAVAILABLE, "disconnected: 503 at once");
}

Test(dpquota, run_ahead_bounded_by_chunk)
{
    ack1("p", 7, 100, 0, 10, 0, 10000);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(take("p"), DP_QUOTA_OK, "request %d", i);
    cr_expect_eq(take("p"), DP_QUOTA_UNAVAILABLE, "11th: chunk used, no ack: not admitted");
    Apiplatform__V1__UsageReport *r =
        (Apiplatform__V1__UsageReport *)ap_msg_new(&apiplatform__v1__usage_report__descriptor);
    dp_quota_fill_report(r, 0);
    cr_assert_eq(r->n_leases, 1);
    cr_expect_eq(r->leases[0]->lease_id, 7);
    cr_expect_eq(r->leases[0]->used, 10, "reports exactly what it admitted");
    ap_msg_free(&r->base);
    ack1("p", 7, 100, 10, 10, 0, 10000);
    cr_expect_eq(take("p"), DP_QUOTA_OK, "acknowledged: goes on");
}

Test(dpquota, never_beyond_granted)
{
    ack1("p", 1, 5, 0, 5, 1, 10000);
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += take("p") == DP_QUOTA_OK;
    cr_expect_eq(ok, 5);
    dp_quota_result_t r;
    dp_quota_take("p", &r);
    cr_expect_eq(r.outcome, DP_QUOTA_EXCEEDED, "spent everywhere: 429");
    cr_expect_eq(r.remaining, 0);
    cr_expect_geq(r.retry_after, 3599, "retry at the period's end");
    cr_expect_str_eq(r.name, "day");
    cr_expect_eq(r.window, 86400);
}

Test(dpquota, headers_count_down)
{
    ack1("p", 1, 100, 0, 100, 0, 10000);
    for (uint64_t i = 1; i <= 20; i++) {
        dp_quota_result_t r;
        dp_quota_take("p", &r);
        cr_assert_eq(r.remaining, 1000 - i);
    }
}

Test(dpquota, stale_lease_not_used)
{
    ack1("p", 1, 100, 0, 100, 0, 100); /* ttl 100 ms: usable for 50 */
    cr_expect_eq(take("p"), DP_QUOTA_OK);
    usleep(60 * 1000);
    cr_expect_eq(take("p"), DP_QUOTA_UNAVAILABLE, "no answer for ttl/2: not used");
}

Test(dpquota, lease_dropped_when_not_listed)
{
    ack1("p", 1, 100, 0, 100, 0, 10000);
    cr_expect_eq(take("p"), DP_QUOTA_OK);
    Apiplatform__V1__ReportAck a = APIPLATFORM__V1__REPORT_ACK__INIT;
    dp_quota_apply_ack(&a); /* the control plane lists no lease: it is over */
    cr_expect_eq(take("p"), DP_QUOTA_UNAVAILABLE);
}

Test(dpquota, release_gives_everything_back)
{
    ack1("p", 3, 100, 0, 100, 0, 10000);
    take("p");
    take("p");
    Apiplatform__V1__UsageReport *r =
        (Apiplatform__V1__UsageReport *)ap_msg_new(&apiplatform__v1__usage_report__descriptor);
    dp_quota_fill_report(r, 1);
    cr_assert_eq(r->n_leases, 1);
    cr_expect(r->leases[0]->release);
    cr_expect_eq(r->leases[0]->used, 2);
    ap_msg_free(&r->base);
    cr_expect_eq(take("p"), DP_QUOTA_UNAVAILABLE, "released: not used any more");
}

Test(dpquota, idle_lease_given_back)
{
    dp_quota_set_idle_ms(50);
    ack1("p", 4, 100, 0, 100, 0, 10000);
    cr_expect_eq(take("p"), DP_QUOTA_OK);
    Apiplatform__V1__UsageReport *r =
        (Apiplatform__V1__UsageReport *)ap_msg_new(&apiplatform__v1__usage_report__descriptor);
    dp_quota_fill_report(r, 0);
    cr_assert_eq(r->n_leases, 1);
    cr_expect(!r->leases[0]->release, "in use: kept");
    ap_msg_free(&r->base);
    usleep(80 * 1000);
    r = (Apiplatform__V1__UsageReport *)ap_msg_new(&apiplatform__v1__usage_report__descriptor);
    dp_quota_fill_report(r, 0);
    cr_assert_eq(r->n_leases, 1);
    cr_expect(r->leases[0]->release, "unused for longer than the idle time: given back");
    cr_expect_eq(r->leases[0]->used, 1);
    ap_msg_free(&r->base);
    cr_expect_eq(take("p"), DP_QUOTA_UNAVAILABLE, "given back: the next request needs a new one");
}

Test(dpquota, no_wait_take_says_pending)
{
    dp_quota_result_t r;
    dp_quota_take_h("np", ap_hash_str("np"), 0, &r);
    cr_expect_eq(r.outcome, DP_QUOTA_PENDING, "no lease yet: pending, not blocking");
    cr_expect(dp_quota_report_due(), "and the request for one is due");
    ack1("np", 9, 10, 0, 10, 0, 10000);
    dp_quota_take_h("np", ap_hash_str("np"), 0, &r);
    cr_expect_eq(r.outcome, DP_QUOTA_OK, "answered: admitted");
}
