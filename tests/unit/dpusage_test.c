/* Unit tests of the data plane's usage counters (dataplane/usage.c): which
 * outcome a status and code count as, a drain that moves the counts out and
 * starts over, keys copied away from their (config-owned) strings, and no
 * count lost while several threads count and another drains. Criterion runs
 * each test in its own process, so the counters start empty. */
#include "usage.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ap_msg.h"

typedef Apiplatform__V1__UsageCounter counter_t;

static Apiplatform__V1__UsageReport report;

static void clear(void)
{
    for (size_t i = 0; i < report.n_counters; i++)
        ap_msg_free(&report.counters[i]->base);
    free(report.counters);
    apiplatform__v1__usage_report__init(&report);
}

static void setup(void)
{
    apiplatform__v1__usage_report__init(&report);
}

TestSuite(dpusage, .init = setup, .fini = clear);

static const counter_t *find(const char *profile, const char *endpoint)
{
    for (size_t i = 0; i < report.n_counters; i++)
        if (strcmp(report.counters[i]->profile_id, profile) == 0 &&
            strcmp(report.counters[i]->endpoint_id, endpoint) == 0)
            return report.counters[i];
    return NULL;
}

static uint64_t calls(const counter_t *c)
{
    return c->successful + c->client_errors + c->server_errors + c->rate_limited +
           c->quota_exceeded + c->ip_denied;
}

Test(dpusage, outcomes_by_status_and_code)
{
    static const struct {
        int status;
        const char *code;
    } calls_[] = {
        {200, "ok"},
        {201, "ok"},
        {304, "ok"},
        {404, "not_found"},
        {401, NULL},
        {403, "collection_denied"},
        {0, NULL},
        {502, "upstream_unreachable"},
        {504, "upstream_timeout"},
        {429, "rate_limited"},
        {429, "rate_limited"},
        {429, "quota_exceeded"},
        {403, "ip_denied"},
        {429, NULL},
    };
    for (size_t i = 0; i < sizeof(calls_) / sizeof(calls_[0]); i++)
        dp_usage_count("prf_1", "ep_1", calls_[i].status, calls_[i].code);
    cr_assert_eq(dp_usage_drain(&report), 1);
    const counter_t *c = find("prf_1", "ep_1");
    cr_assert_not_null(c);
    cr_expect_eq(c->successful, 3);
    /* 404, 401, collection_denied, a caller gone (0), a 429 without a code */
    cr_expect_eq(c->client_errors, 5);
    cr_expect_eq(c->server_errors, 2);
    cr_expect_eq(c->rate_limited, 2);
    cr_expect_eq(c->quota_exceeded, 1);
    cr_expect_eq(c->ip_denied, 1);
}

Test(dpusage, drain_moves_the_counts_and_starts_over)
{
    dp_usage_count("prf_1", "ep_1", 200, "ok");
    dp_usage_count("prf_1", "ep_2", 200, "ok");
    dp_usage_count("", "", 404, "not_found");
    dp_usage_count("", "ep_1", 401, "token_missing");
    dp_usage_count("prf_1", "ep_1", 200, "ok");
    cr_assert_eq(dp_usage_drain(&report), 4, "one counter per (profile, endpoint)");
    cr_expect_eq(find("prf_1", "ep_1")->successful, 2);
    cr_expect_eq(find("prf_1", "ep_2")->successful, 1);
    cr_expect_eq(find("", "")->client_errors, 1);
    cr_expect_eq(find("", "ep_1")->client_errors, 1);
    clear();

    cr_expect_eq(dp_usage_drain(&report), 0, "nothing new: nothing to report");
    cr_expect_eq(report.n_counters, 0);
    dp_usage_count("prf_1", "ep_1", 500, "internal_error");
    cr_expect_eq(dp_usage_drain(&report), 1);
    cr_expect_eq(calls(find("prf_1", "ep_1")), 1, "counted since the last drain only");
    cr_expect_eq(find("prf_1", "ep_1")->server_errors, 1);
}

Test(dpusage, keys_outlive_the_strings_they_came_from)
{
    char profile[16], endpoint[16];
    strcpy(profile, "prf_old");
    strcpy(endpoint, "ep_old");
    dp_usage_count(profile, endpoint, 200, "ok");
    /* a config swap frees the strings the request pointed at */
    memset(profile, 'x', sizeof(profile) - 1);
    memset(endpoint, 'y', sizeof(endpoint) - 1);
    cr_assert_eq(dp_usage_drain(&report), 1);
    cr_expect_not_null(find("prf_old", "ep_old"));
}

Test(dpusage, drain_appends_to_a_report)
{
    report.counters = malloc(sizeof(*report.counters));
    report.counters[0] = (counter_t *)ap_msg_new(&apiplatform__v1__usage_counter__descriptor);
    ap_msg_set_str(&report.counters[0]->base, "profile_id", "before");
    report.n_counters = 1;
    dp_usage_count("prf_1", "ep_1", 200, "ok");
    cr_assert_eq(dp_usage_drain(&report), 1);
    cr_assert_eq(report.n_counters, 2);
    cr_expect_str_eq(report.counters[0]->profile_id, "before");
    cr_expect_str_eq(report.counters[1]->profile_id, "prf_1");
}

#define THREADS 4
#define PER_THREAD 200000
#define KEYS 300

static void *hammer(void *arg)
{
    char profile[32], endpoint[32];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(profile, sizeof(profile), "prf_%d", i % KEYS);
        snprintf(endpoint, sizeof(endpoint), "ep_%d", (i / KEYS) % 7);
        dp_usage_count(profile, endpoint, i % 10 == 0 ? 429 : 200, "rate_limited");
    }
    return NULL;
}

Test(dpusage, no_count_lost_under_concurrent_drains)
{
    pthread_t t[THREADS];
    uint64_t total = 0, limited = 0;
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
    /* drain while they count, as the sync thread does */
    for (int round = 0; round < 50; round++) {
        dp_usage_drain(&report);
        for (size_t i = 0; i < report.n_counters; i++) {
            total += calls(report.counters[i]);
            limited += report.counters[i]->rate_limited;
        }
        clear();
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    dp_usage_drain(&report);
    for (size_t i = 0; i < report.n_counters; i++) {
        total += calls(report.counters[i]);
        limited += report.counters[i]->rate_limited;
    }
    cr_expect_eq(total, (uint64_t)THREADS * PER_THREAD);
    cr_expect_eq(limited, (uint64_t)THREADS * PER_THREAD / 10);
}
