/* Structured logs: one logfmt line per event on stderr,
 * `ts=2026-12-04T20:00:00.123Z level=info event=listening addr=...`.
 * Callers pass key=value pairs already formatted; values with spaces must be
 * quoted by the caller with %q-style ap_log_quote. Secrets never go here. */
#ifndef AP_LOG_H
#define AP_LOG_H

#include <stddef.h>

typedef enum { AP_LOG_DEBUG, AP_LOG_INFO, AP_LOG_WARN, AP_LOG_ERROR } ap_log_level_t;

/* The level below which lines are dropped (default info). */
extern ap_log_level_t ap_log_min_level;

/* Parses "debug|info|warn|error"; -1 if unknown. */
int ap_log_parse_level(const char *s, ap_log_level_t *out);
void ap_log(ap_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes s as a double-quoted logfmt value into out. */
const char *ap_log_quote(const char *s, char *out, size_t outlen);

#endif
