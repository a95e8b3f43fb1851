/* Text conversions between what people type or read and the fields of the
 * Admin API messages where one plain field set or print is not enough:
 * lists, labels, COUNT/PERIOD limits, times and durations in, and the
 * composite cells of list tables out. */
#define _GNU_SOURCE
#include "ctl.h"

#include "ap_msg.h"
#include "apiplatform/v1/resources.pb-c.h"
#include "bundle.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Units a duration may carry. */
static const struct {
    char unit;
    int64_t seconds;
} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int set_int(ProtobufCMessage *req, const char *path, int64_t v, char *err, size_t errlen)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, v);
    return ap_msg_set_text(req, path, text, err, errlen);
}

/* "a, b,c" replaces the list with a, b and c; "" empties it. */
int ctl_set_list(ProtobufCMessage *req, const char *path, const char *text, char *err,
                 size_t errlen)
{
    char *copy = strdup(text), *save = NULL, *item;
    int rc = 0;
    ap_msg_clear(req, path);
    for (item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *end = item + strlen(item);
        item += strspn(item, " \t");
        while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*item != '\0') rc = ap_msg_set_text(req, path, item, err, errlen);
    }
    free(copy);
    return rc;
}

/* "team=payments, env=prod" replaces the Label list with those labels. */
int ctl_set_labels(ProtobufCMessage *req, const char *path, const char *text, char *err,
                   size_t errlen)
{
    char *copy = strdup(text), *save = NULL, *item;
    int rc = 0;
    ap_msg_clear(req, path);
    for (item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        item += strspn(item, " \t");
        char *eq = strchr(item, '=');
        if (eq == NULL || eq == item) {
            rc = fail(err, errlen, "\"%s\" is not KEY=VALUE", item);
            continue;
        }
        *eq = '\0';
        ProtobufCMessage *label = ctl_msg_append(req, path);
        ap_msg_set_str(label, "key", item);
        ap_msg_set_str(label, "value", eq + 1);
    }
    free(copy);
    return rc;
}

/* "100/minute" into path.count and path.period; "none" leaves the message
 * absent, which an update (its mask naming it) turns into removal. */
int ctl_set_rate(ProtobufCMessage *req, const char *path, const char *text, char *err,
                 size_t errlen)
{
    const char *slash = strchr(text, '/');
    char sub[128], count[32];
    if (strcmp(text, "none") == 0) {
        ap_msg_clear(req, path);
        return 0;
    }
    if (slash == NULL || (size_t)(slash - text) >= sizeof(count))
        return fail(err, errlen, "\"%s\" is not COUNT/PERIOD, e.g. 100/minute", text);
    snprintf(count, sizeof(count), "%.*s", (int)(slash - text), text);
    snprintf(sub, sizeof(sub), "%s.count", path);
    if (ap_msg_set_text(req, sub, count, err, errlen) != 0) return -1;
    snprintf(sub, sizeof(sub), "%s.period", path);
    return ap_msg_set_text(req, sub, slash + 1, err, errlen);
}

/* RFC 3339 ("2025-06-30T00:00:00Z", "...+02:00", fractions ignored) or
 * unix seconds, into unix seconds. */
int ctl_set_time(ProtobufCMessage *req, const char *path, const char *text, char *err,
                 size_t errlen)
{
    struct tm tm = {0};
    int offset = 0, hh, mm, n = 0;
    const char *p;
    if (text[strspn(text, "0123456789")] == '\0')
        return ap_msg_set_text(req, path, text, err, errlen);
    if ((p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL) goto bad;
    if (*p == '.') p += 1 + strspn(p + 1, "0123456789");
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) == 2 &&
               n == 5) {
        offset = (*p == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
        p += 1 + n;
    } else {
        goto bad;
    }
    if (*p != '\0') goto bad;
    return set_int(req, path, (int64_t)timegm(&tm) - offset, err, errlen);
bad:
    return fail(err, errlen, "\"%s\" is neither RFC 3339 (2025-06-30T00:00:00Z) nor unix seconds",
                text);
}

static int parse_duration(const char *text, int64_t *secs, char *err, size_t errlen)
{
    char *end;
    long long n = strtoll(text, &end, 10);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (text[0] < '0' || text[0] > '9' || end[0] != units[i].unit || end[1] != '\0') continue;
        /* beyond a century is a typo, and keeps the sum far from overflow */
        if (n > 100LL * 366 * 86400 / units[i].seconds)
            return fail(err, errlen, "%s is too long", text);
        *secs = n * units[i].seconds;
        return 0;
    }
    return fail(err, errlen, "\"%s\" is not a duration like 30d, 12h, 90m or 3600s", text);
}

/* A duration from now ("30d") as the unix time it ends. */
int ctl_set_from_now(ProtobufCMessage *req, const char *path, const char *text, char *err,
                     size_t errlen)
{
    int64_t secs;
    if (parse_duration(text, &secs, err, errlen) != 0) return -1;
    return set_int(req, path, (int64_t)time(NULL) + secs, err, errlen);
}

/* A point in time: RFC 3339, unix seconds, or a duration before now ("15m",
 * "2h", "7d"). */
int ctl_set_time_or_ago(ProtobufCMessage *req, const char *path, const char *text, char *err,
                        size_t errlen)
{
    int64_t secs;
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || text[digits] == '\0' || text[digits + 1] != '\0') {
        if (ctl_set_time(req, path, text, err, errlen) == 0) return 0;
        return fail(err, errlen,
                    "\"%s\" is neither RFC 3339 (2026-12-04T10:00:00Z), unix seconds nor a "
                    "duration ago (15m, 2h, 7d)",
                    text);
    }
    if (parse_duration(text, &secs, err, errlen) != 0) return -1;
    return set_int(req, path, (int64_t)time(NULL) - secs, err, errlen);
}

/* A duration ("1h") in seconds. */
int ctl_set_duration(ProtobufCMessage *req, const char *path, const char *text, char *err,
                     size_t errlen)
{
    int64_t secs;
    if (parse_duration(text, &secs, err, errlen) != 0) return -1;
    return set_int(req, path, secs, err, errlen);
}

static char *cellf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *cellf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* A RateLimit or Quota as "100/minute". */
char *ctl_cell_rate(const ProtobufCMessage *item, const char *path)
{
    const ProtobufCMessage *limit = ctl_sub(item, path);
    char period[32];
    if (limit == NULL) return cellf("%s", "");
    return cellf("%" PRIu64 "/%s", ap_msg_get_u64(limit, "count"),
                 ap_msg_enum_short(ap_msg_field(limit->descriptor, "period")->descriptor,
                                   (int)ap_msg_get_u64(limit, "period"), period, sizeof(period)));
}

/* Where an endpoint goes: its upstream URL, or "static <status>". */
char *ctl_cell_target(const ProtobufCMessage *item, const char *path)
{
    const Apiplatform__V1__Target *t = (const Apiplatform__V1__Target *)ctl_sub(item, path);
    if (t != NULL && t->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM)
        return cellf("%s", t->url);
    if (t != NULL && t->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC)
        return cellf("static %" PRIu32, t->status);
    return cellf("%s", "");
}

/* A token's state now: revoked and expired are final; "revoking" is a
 * refreshed token in its grace period. */
char *ctl_cell_token_state(const ProtobufCMessage *item, const char *path)
{
    const Apiplatform__V1__Token *t = (const Apiplatform__V1__Token *)item;
    int64_t now = time(NULL);
    if (t->revoke_time != 0 && t->revoke_time <= now) return cellf("%s", "revoked");
    if (t->expire_time != 0 && t->expire_time <= now) return cellf("%s", "expired");
    return cellf("%s", t->revoke_time != 0 ? "revoking" : "active");
}
