/* logfmt lines on stderr (see ap_log.h). One write per line so lines from
 * several threads do not interleave. */
#include "ap_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* global: set once at start-up from flags, read by every ap_log call */
ap_log_level_t ap_log_min_level = AP_LOG_INFO;

static const char *const NAMES[] = {"debug", "info", "warn", "error"};

int ap_log_parse_level(const char *s, ap_log_level_t *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, NAMES[i]) == 0) {
            *out = (ap_log_level_t)i;
            return 0;
        }
    return -1;
}

void ap_log(ap_log_level_t level, const char *event, const char *fmt, ...)
{
    if (level < ap_log_min_level) return;
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s event=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000), NAMES[level], event);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 1) n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

const char *ap_log_quote(const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    out[o++] = '"';
    for (; *s && o + 3 < outlen; s++) {
        if (*s == '"' || *s == '\\') out[o++] = '\\';
        out[o++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
