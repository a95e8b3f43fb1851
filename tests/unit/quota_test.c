/* Unit tests of quotas: calendar periods (month ends, leap days, ISO weeks
 * in UTC), the lease arithmetic, the control plane's authority over a real
 * store (never grants more than remains, use reported cumulatively, leases
 * of a vanished node reclaimed after the ttl with the run-ahead written off,
 * rollover, restart), and the node side's lease taking. */
#define _GNU_SOURCE /* timegm */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_msg.h"
#include "quota.h"
#include "resource.h"
#include "tmpstore.h"

/* ---- periods ---- */

static int64_t utc(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

#define DAY APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY
#define WEEK APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK
#define MONTH APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH

static void expect_bounds(int period, int64_t t, int64_t start, int64_t end)
{
    int64_t s = 0, e = 0;
    cr_assert_eq(cp_period_bounds(period, t, &s, &e), 0);
    cr_expect_eq(s, start, "period %d at %" PRId64 ": start %" PRId64 ", want %" PRId64, period, t,
                 s, start);
    cr_expect_eq(e, end, "period %d at %" PRId64 ": end %" PRId64 ", want %" PRId64, period, t, e,
                 end);
}

Test(period, day_edges)
{
    expect_bounds(DAY, utc(2026, 12, 4, 0, 0, 0), utc(2026, 12, 4, 0, 0, 0),
                  utc(2026, 12, 5, 0, 0, 0));
    expect_bounds(DAY, utc(2026, 12, 4, 23, 59, 59), utc(2026, 12, 4, 0, 0, 0),
                  utc(2026, 12, 5, 0, 0, 0));
    expect_bounds(DAY, utc(2026, 12, 31, 12, 0, 0), utc(2026, 12, 31, 0, 0, 0),
                  utc(2027, 1, 1, 0, 0, 0));
    /* leap day is a day of its own */
    expect_bounds(DAY, utc(2024, 2, 29, 23, 0, 0), utc(2024, 2, 29, 0, 0, 0),
                  utc(2024, 3, 1, 0, 0, 0));
}

Test(period, month_ends_and_leap_years)
{
    /* 31, 30, 28 and 29 days */
    expect_bounds(MONTH, utc(2026, 1, 31, 23, 59, 59), utc(2026, 1, 1, 0, 0, 0),
                  utc(2026, 2, 1, 0, 0, 0));
    expect_bounds(MONTH, utc(2026, 4, 30, 23, 59, 59), utc(2026, 4, 1, 0, 0, 0),
                  utc(2026, 5, 1, 0, 0, 0));
    expect_bounds(MONTH, utc(2026, 2, 28, 23, 59, 59), utc(2026, 2, 1, 0, 0, 0),
                  utc(2026, 3, 1, 0, 0, 0));
    expect_bounds(MONTH, utc(2024, 2, 29, 12, 0, 0), utc(2024, 2, 1, 0, 0, 0),
                  utc(2024, 3, 1, 0, 0, 0));
    int64_t s, e;
    cp_period_bounds(MONTH, utc(2024, 2, 10, 0, 0, 0), &s, &e);
    cr_expect_eq(e - s, 29 * 86400, "February 2024 has 29 days");
    cp_period_bounds(MONTH, utc(2100, 2, 10, 0, 0, 0), &s, &e);
    cr_expect_eq(e - s, 28 * 86400, "2100 is not a leap year");
    cp_period_bounds(MONTH, utc(2000, 2, 10, 0, 0, 0), &s, &e);
    cr_expect_eq(e - s, 29 * 86400, "2000 is a leap year");
    /* December rolls into the next year */
    expect_bounds(MONTH, utc(2026, 12, 31, 23, 59, 59), utc(2026, 12, 1, 0, 0, 0),
                  utc(2027, 1, 1, 0, 0, 0));
    /* the first second of a month is in it, the last of the previous is not */
    expect_bounds(MONTH, utc(2026, 3, 1, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0),
                  utc(2026, 4, 1, 0, 0, 0));
    expect_bounds(MONTH, utc(2026, 3, 1, 0, 0, 0) - 1, utc(2026, 2, 1, 0, 0, 0),
                  utc(2026, 3, 1, 0, 0, 0));
}

Test(period, iso_weeks_start_monday_utc)
{
    /* 2026-12-04 is a Friday: its week is Mon 11-30 .. Mon 12-07 */
    expect_bounds(WEEK, utc(2026, 12, 4, 15, 0, 0), utc(2026, 11, 30, 0, 0, 0),
                  utc(2026, 12, 7, 0, 0, 0));
    /* Sunday 23:59:59 is still the old week; Monday 00:00 the new one */
    expect_bounds(WEEK, utc(2026, 12, 6, 23, 59, 59), utc(2026, 11, 30, 0, 0, 0),
                  utc(2026, 12, 7, 0, 0, 0));
    expect_bounds(WEEK, utc(2026, 12, 7, 0, 0, 0), utc(2026, 12, 7, 0, 0, 0),
                  utc(2026, 12, 14, 0, 0, 0));
    /* across a year end and across a leap day */
    expect_bounds(WEEK, utc(2027, 1, 1, 0, 0, 0), utc(2026, 12, 28, 0, 0, 0),
                  utc(2027, 1, 4, 0, 0, 0));
    expect_bounds(WEEK, utc(2024, 2, 29, 0, 0, 0), utc(2024, 2, 26, 0, 0, 0),
                  utc(2024, 3, 4, 0, 0, 0));
    /* the epoch was a Thursday; its week began Monday 1969-12-29 */
    expect_bounds(WEEK, 0, utc(1969, 12, 29, 0, 0, 0), utc(1970, 1, 5, 0, 0, 0));
    int64_t s, e;
    cr_expect_eq(cp_period_bounds(0, 0, &s, &e), -1, "unknown period refused");
}

/* ---- lease arithmetic ---- */

Test(lease, grant_size)
{
    cr_expect_eq(cp_lease_grant_size(0, 3, 100000), 0, "nothing free, nothing granted");
    cr_expect_eq(cp_lease_grant_size(1000, 3, 100000), 166, "a sixth of what is free for 3 nodes");
    cr_expect_eq(cp_lease_grant_size(1000, 1, 100000), 500);
    cr_expect_eq(cp_lease_grant_size(1000, 0, 100000), 500, "0 nodes counts as 1");
    cr_expect_eq(cp_lease_grant_size(5, 3, 100000), 1, "at least 1 while anything is free");
    cr_expect_eq(cp_lease_grant_size(1, 3, 100000), 1);
    cr_expect_eq(cp_lease_grant_size(10000000, 2, 1000), 1000, "capped");
    /* repeated grants to 3 nodes never exceed what was free */
    uint64_t free_ = 1000, out = 0;
    for (int i = 0; i < 100000 && free_ > 0; i++) {
        uint64_t g = cp_lease_grant_size(free_, 3, 100000);
        cr_assert(g >= 1 && g <= free_);
        free_ -= g;
        out += g;
    }
    cr_expect_eq(out, 1000, "everything can be leased out, no more");
}

Test(lease, chunk_and_write_off)
{
    cr_expect_eq(cp_lease_chunk(1), 1);
    cr_expect_eq(cp_lease_chunk(3), 1);
    cr_expect_eq(cp_lease_chunk(166), 41);
    cr_expect_eq(cp_lease_chunk(100000), 25000);
    /* written off: the run-ahead, but never more than was out */
    cr_expect_eq(cp_lease_write_off(166, 100, 41), 41);
    cr_expect_eq(cp_lease_write_off(166, 150, 41), 16);
    cr_expect_eq(cp_lease_write_off(166, 166, 41), 0);
    cr_expect_eq(cp_lease_write_off(10, 12, 4), 0, "over-reporting is clamped");
}

/* ---- the authority, over a real store ---- */

static char dir[TMPSTORE_DIR_MAX];
static cp_store_t *store;
static ap_status_t st;
static char profile_id[64];

static void *must_create(const cp_kind_t *k, void *in)
{
    memset(&st, 0, sizeof(st));
    void *m = cp_res_create(store, k, in, "tester", &st);
    cr_assert_not_null(m, "create %s: %s", k->name, st.message);
    return m;
}

/* A profile whose policy has a quota of `count` per `period`. */
static void setup_quota(uint64_t count, int period)
{
    store = tmpstore_open("quota_test", dir);
    Apiplatform__V1__Collection c = APIPLATFORM__V1__COLLECTION__INIT;
    c.name = "shop";
    c.version = "v1";
    ap_msg_free(must_create(&CP_KIND_COLLECTION, &c));
    Apiplatform__V1__Quota q = APIPLATFORM__V1__QUOTA__INIT;
    q.count = count;
    q.period = period;
    Apiplatform__V1__AccessPolicy pol = APIPLATFORM__V1__ACCESS_POLICY__INIT;
    pol.name = "pol";
    pol.quota = &q;
    ap_msg_free(must_create(&CP_KIND_POLICY, &pol));
    Apiplatform__V1__Client cl = APIPLATFORM__V1__CLIENT__INIT;
    cl.name = "acme";
    ap_msg_free(must_create(&CP_KIND_CLIENT, &cl));
    Apiplatform__V1__AccessProfile p = APIPLATFORM__V1__ACCESS_PROFILE__INIT;
    p.name = "p";
    p.client_id = "acme";
    char *cols[] = {"shop"};
    p.collection_ids = cols;
    p.n_collection_ids = 1;
    p.policy_id = "pol";
    Apiplatform__V1__AccessProfile *made = must_create(&CP_KIND_PROFILE, &p);
    snprintf(profile_id, sizeof(profile_id), "%s", made->id);
    ap_msg_free(&made->base);
}

static void teardown(void)
{
    tmpstore_remove(store, dir);
}

/* One report from `node`: use of its lease (0 = none) and, when ask, a
 * request for more. Returns the lease the answer lists for the profile
 * (copied into *out; lease_id 0 when none). */
static void report(cp_quota_t *q, const char *node, uint64_t lease_id, uint64_t used, int release,
                   int ask, uint32_t nodes, int64_t now_ms, Apiplatform__V1__Lease *out)
{
    Apiplatform__V1__UsageReport r = APIPLATFORM__V1__USAGE_REPORT__INIT;
    Apiplatform__V1__LeaseUse u = APIPLATFORM__V1__LEASE_USE__INIT;
    Apiplatform__V1__LeaseUse *up = &u;
    Apiplatform__V1__LeaseRequest lr = APIPLATFORM__V1__LEASE_REQUEST__INIT;
    Apiplatform__V1__LeaseRequest *lrp = &lr;
    if (lease_id != 0) {
        u.lease_id = lease_id;
        u.used = used;
        u.release = release;
        r.leases = &up;
        r.n_leases = 1;
    }
    if (ask) {
        lr.profile_id = profile_id;
        r.requests = &lrp;
        r.n_requests = 1;
    }
    Apiplatform__V1__ReportAck ack = APIPLATFORM__V1__REPORT_ACK__INIT;
    cp_quota_report(q, node, &r, nodes, now_ms, &ack);
    apiplatform__v1__lease__init(out);
    for (size_t i = 0; i < ack.n_leases; i++)
        if (strcmp(ack.leases[i]->profile_id, profile_id) == 0) {
            *out = *ack.leases[i];
            out->profile_id = "";
        }
    cp_quota_ack_clear(&ack);
}

static Apiplatform__V1__QuotaStatus *status(cp_quota_t *q, int64_t now_ms)
{
    static Apiplatform__V1__ListQuotasResponse *last;
    if (last) ap_msg_free(&last->base);
    Apiplatform__V1__ListQuotasRequest req = APIPLATFORM__V1__LIST_QUOTAS_REQUEST__INIT;
    last = cp_quota_list(q, &req, now_ms, &st);
    cr_assert_not_null(last);
    cr_assert_eq(last->n_quotas, 1);
    return last->quotas[0];
}

static const int64_t NOW = 1796385600000; /* 2026-12-04T12:00:00Z, ms */

Test(authority, never_grants_more_than_remains, .fini = teardown)
{
    setup_quota(1000, DAY);
    cp_quota_t *q = cp_quota_new(store, 2000, 100000, NOW);
    const char *nodes[] = {"a", "b", "c"};
    Apiplatform__V1__Lease l[3];
    uint64_t granted = 0, used[3] = {0};
    for (int i = 0; i < 3; i++) {
        report(q, nodes[i], 0, 0, 0, 1, 3, NOW, &l[i]);
        cr_assert_neq(l[i].lease_id, 0);
        granted += l[i].granted;
    }
    cr_expect_eq(l[0].granted, 166, "first grant: 1000 / (2 * 3)");
    cr_expect_leq(granted, 1000);
    /* the nodes use everything they get and keep asking: the sum of
     * grants reaches 1000 exactly and never passes it */
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < 3; i++) {
            used[i] = l[i].granted;
            report(q, nodes[i], l[i].lease_id, used[i], 0, 1, 3, NOW, &l[i]);
            Apiplatform__V1__QuotaStatus *s = status(q, NOW);
            cr_assert_leq(s->used + s->leased, 1000, "round %d: used %" PRIu64 " + leased %" PRIu64,
                          round, s->used, s->leased);
        }
    Apiplatform__V1__QuotaStatus *s = status(q, NOW);
    cr_expect_eq(s->used + s->leased, 1000);
    cr_expect_eq(s->remaining, 0);
    cr_expect(l[0].exhausted && l[1].exhausted && l[2].exhausted, "everyone hears it is spent");
    cr_expect_eq(l[0].limit, 1000);
    cp_quota_free(q);
}

Test(authority, reports_are_cumulative_and_clamped, .fini = teardown)
{
    setup_quota(100, DAY);
    cp_quota_t *q = cp_quota_new(store, 2000, 100000, NOW);
    Apiplatform__V1__Lease l;
    report(q, "a", 0, 0, 0, 1, 1, NOW, &l);
    cr_assert_eq(l.granted, 50);
    report(q, "a", l.lease_id, 10, 0, 0, 1, NOW, &l);
    report(q, "a", l.lease_id, 10, 0, 0, 1, NOW, &l); /* repeated: no double count */
    report(q, "a", l.lease_id, 5, 0, 0, 1, NOW, &l);  /* late, older: ignored */
    cr_expect_eq(l.acked_used, 10);
    cr_expect_eq(status(q, NOW)->used, 10);
    report(q, "a", l.lease_id, 999, 0, 0, 1, NOW, &l); /* more than granted: clamped */
    cr_expect_eq(l.acked_used, 50);
    /* another node cannot report on a's lease */
    Apiplatform__V1__Lease other;
    report(q, "b", l.lease_id, 0, 1, 0, 1, NOW, &other);
    cr_expect_eq(status(q, NOW)->n_leases, 1, "b cannot release a's lease");
    /* release: the unused part goes back at once */
    report(q, "a", l.lease_id, 50, 1, 0, 1, NOW, &l);
    Apiplatform__V1__QuotaStatus *s = status(q, NOW);
    cr_expect_eq(s->used, 50);
    cr_expect_eq(s->leased, 0);
    cr_expect_eq(s->remaining, 50);
    cp_quota_free(q);
}

Test(authority, vanished_node_lease_reclaimed_after_ttl, .fini = teardown)
{
    setup_quota(1000, DAY);
    cp_quota_t *q = cp_quota_new(store, 2000, 100000, NOW);
    Apiplatform__V1__Lease a, b;
    report(q, "a", 0, 0, 0, 1, 2, NOW, &a); /* 250 */
    report(q, "b", 0, 0, 0, 1, 2, NOW, &b); /* 750 / 4 = 187 */
    report(q, "a", a.lease_id, 100, 0, 0, 2, NOW, &a);
    cr_assert_eq(a.granted, 250);
    cr_assert_eq(a.chunk, 62);
    cp_quota_node_down(q, "a", NOW);
    cp_quota_tick(q, NOW + 1999);
    cr_expect_eq(status(q, NOW + 1999)->n_leases, 2, "kept until the ttl is over");
    /* it may come back in time and keep it */
    cp_quota_node_up(q, "a");
    cp_quota_tick(q, NOW + 5000);
    cr_expect_eq(status(q, NOW + 5000)->n_leases, 2, "a came back: not reclaimed");
    cp_quota_node_down(q, "a", NOW + 5000);
    cp_quota_tick(q, NOW + 7000);
    Apiplatform__V1__QuotaStatus *s = status(q, NOW + 7000);
    cr_expect_eq(s->n_leases, 1, "a's lease reclaimed");
    /* 100 reported + 62 written off (what a may have used unreported);
     * 88 back in the pool */
    cr_expect_eq(s->used, 162);
    cr_expect_eq(s->leased, b.granted);
    cr_expect_eq(s->remaining, 1000 - 162 - b.granted);
    /* a's late report on the closed lease changes nothing */
    Apiplatform__V1__Lease late;
    report(q, "a", a.lease_id, 200, 0, 0, 2, NOW + 7000, &late);
    cr_expect_eq(status(q, NOW + 7000)->used, 162);
    cp_quota_free(q);
}

Test(authority, rollover_closes_old_period, .fini = teardown)
{
    setup_quota(10, DAY);
    cp_quota_t *q = cp_quota_new(store, 2000, 100000, NOW);
    int64_t late = 1796428799000; /* 2026-12-04T23:59:59Z */
    Apiplatform__V1__Lease l;
    report(q, "a", 0, 0, 0, 1, 1, late, &l);
    report(q, "a", l.lease_id, 5, 0, 1, 1, late, &l);
    report(q, "a", l.lease_id, l.granted, 0, 1, 1, late, &l);
    uint64_t old_id = l.lease_id;
    cr_expect_eq(l.seconds_left, 1);
    int64_t next = late + 1000; /* midnight */
    cp_quota_tick(q, next);
    Apiplatform__V1__QuotaStatus *s = status(q, next);
    cr_expect_eq(s->used, 0, "a new day starts at 0");
    cr_expect_eq(s->period_start, next / 1000);
    report(q, "a", old_id, 10, 0, 1, 1, next, &l);
    cr_expect_neq(l.lease_id, old_id, "a new lease for the new day");
    cr_expect_eq(l.granted, 5);
    cr_expect_eq(l.seconds_left, 86400);
    cr_expect_eq(status(q, next)->used, 0, "use of yesterday's lease does not count today");
    cp_quota_free(q);
}

Test(authority, restart_keeps_leases_out, .fini = teardown)
{
    setup_quota(1000, MONTH);
    cp_quota_t *q = cp_quota_new(store, 2000, 100000, NOW);
    Apiplatform__V1__Lease l;
    report(q, "a", 0, 0, 0, 1, 1, NOW, &l);
    report(q, "a", l.lease_id, 300, 0, 0, 1, NOW, &l);
    cp_quota_free(q);
    q = cp_quota_new(store, 2000, 100000, NOW);
    Apiplatform__V1__QuotaStatus *s = status(q, NOW);
    cr_expect_eq(s->used, 300);
    cr_expect_eq(s->leased, 200, "the lease is still out after a restart");
    /* a new node gets only what is free: nothing is leased twice */
    Apiplatform__V1__Lease b;
    report(q, "b", 0, 0, 0, 1, 2, NOW, &b);
    cr_expect_eq(b.granted, 125, "(1000 - 300 - 200) / 4");
    cr_expect_neq(b.lease_id, l.lease_id, "lease ids are not reused");
    cp_quota_free(q);
}
