/* JSON-lines access log (see accesslog.h). Each line is built in the
 * request's pool and written with one write(2) on an O_APPEND fd: the kernel
 * keeps such writes whole for files, and for pipes up to PIPE_BUF, which a
 * line exceeds only with a path of several KiB. */
#include "accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "handler.h"
#include "problem.h"

typedef struct st_dp_accesslog_t {
    h2o_logger_t super;
    int fd;
} dp_accesslog_t;

int dp_accesslog_open(const char *path, char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0) return STDOUT_FILENO;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return fd;
}

/* Appends `,"key":` and the quoted value (null when s is NULL). */
static char *put_str(char *o, const char *key, const char *s, size_t len)
{
    o += sprintf(o, ",\"%s\":", key);
    if (s == NULL) {
        memcpy(o, "null", 4);
        return o + 4;
    }
    return o + dp_json_quote(o, s, len);
}

static char *put_cstr(char *o, const char *key, const char *s)
{
    return put_str(o, key, s, s != NULL ? strlen(s) : 0);
}

static uint64_t micros_between(const struct timeval *a, const struct timeval *b)
{
    int64_t d = (int64_t)(b->tv_sec - a->tv_sec) * 1000000 + (b->tv_usec - a->tv_usec);
    return d > 0 ? (uint64_t)d : 0;
}

/* Decimal digits of v at o, no terminator (sprintf showed up at ~9 % of a
 * node's CPU in perf; these are the few formats a line needs). */
static char *put_u64(char *o, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *o++ = tmp[--n];
    return o;
}

/* v zero-padded to width digits. */
static char *put_padded(char *o, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + width;
}

/* ,"key":<micros as milliseconds with 3 decimals> */
static char *put_ms(char *o, const char *key, uint64_t micros)
{
    *o++ = ',';
    *o++ = '"';
    size_t kl = strlen(key);
    memcpy(o, key, kl);
    o += kl;
    *o++ = '"';
    *o++ = ':';
    o = put_u64(o, micros / 1000);
    *o++ = '.';
    return put_padded(o, (unsigned)(micros % 1000), 3);
}

static void on_log_access(h2o_logger_t *_self, h2o_req_t *req)
{
    dp_accesslog_t *self = (dp_accesslog_t *)_self;
    dp_reqstate_t *st = dp_reqstate_get(req);
    const dp_endpoint_t *ep = st != NULL ? st->endpoint : NULL;
    const dp_token_t *tok = st != NULL ? st->token : NULL;
    const dp_profile_t *prof = tok != NULL ? tok->profile : NULL;
    size_t path_len = req->input.query_at != SIZE_MAX ? req->input.query_at : req->input.path.len;

    struct timeval now, begin = req->timestamps.request_begin_at;
    gettimeofday(&now, NULL);
    if (begin.tv_sec == 0) begin = req->processed_at.at;
    struct tm tm;
    gmtime_r(&begin.tv_sec, &tm);

    char remote[NI_MAXHOST] = "";
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sl == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, remote) == SIZE_MAX)
        remote[0] = '\0';

    const char *code = st != NULL ? st->code : req->res.status >= 400 ? "error" : "ok";
    size_t cap = 1024 + dp_json_quoted_max(path_len) + dp_json_quoted_max(req->input.method.len);
    const char *strs[] = {ep ? ep->id : NULL,
                          ep ? ep->collection->id : NULL,
                          tok ? tok->id : NULL,
                          prof ? prof->id : NULL,
                          prof ? prof->client->id : NULL,
                          prof ? prof->client->name : NULL,
                          code};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i] != NULL) cap += dp_json_quoted_max(strlen(strs[i]));
    char *line = h2o_mem_alloc_pool(&req->pool, cap), *o = line;

    memcpy(o, "{\"time\":\"", 9);
    o += 9;
    o = put_padded(o, (unsigned)(tm.tm_year + 1900), 4);
    *o++ = '-';
    o = put_padded(o, (unsigned)(tm.tm_mon + 1), 2);
    *o++ = '-';
    o = put_padded(o, (unsigned)tm.tm_mday, 2);
    *o++ = 'T';
    o = put_padded(o, (unsigned)tm.tm_hour, 2);
    *o++ = ':';
    o = put_padded(o, (unsigned)tm.tm_min, 2);
    *o++ = ':';
    o = put_padded(o, (unsigned)tm.tm_sec, 2);
    *o++ = '.';
    o = put_padded(o, (unsigned)(begin.tv_usec / 1000), 3);
    memcpy(o, "Z\"", 2);
    o += 2;
    o = put_cstr(o, "request_id", st != NULL ? st->request_id : NULL);
    o = put_cstr(o, "client", prof ? prof->client->id : NULL);
    o = put_cstr(o, "client_name", prof ? prof->client->name : NULL);
    o = put_cstr(o, "profile", prof ? prof->id : NULL);
    o = put_cstr(o, "token", tok ? tok->id : NULL);
    o = put_cstr(o, "collection", ep ? ep->collection->id : NULL);
    o = put_cstr(o, "endpoint", ep ? ep->id : NULL);
    o = put_str(o, "method", req->input.method.base, req->input.method.len);
    o = put_str(o, "path", req->input.path.base, path_len);
    memcpy(o, ",\"status\":", 10);
    o = put_u64(o + 10, (uint64_t)(req->res.status > 0 ? req->res.status : 0));
    o = put_cstr(o, "code", code);
    o = put_ms(o, "latency_ms", micros_between(&begin, &now));
    if (st != NULL && st->proxied) {
        uint64_t done = st->upstream_done_ns;
        if (done == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            done = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        }
        o = put_ms(o, "upstream_latency_ms", (done - st->upstream_start_ns) / 1000);
    }
    memcpy(o, ",\"bytes_sent\":", 14);
    o = put_u64(o + 14, (uint64_t)req->bytes_sent);
    o = put_cstr(o, "remote_addr", remote[0] ? remote : NULL);
    *o++ = '}';
    *o++ = '\n';

    /* one write per line; a short write (pipe full) finishes the line */
    for (const char *p = line; p < o;) {
        ssize_t w = write(self->fd, p, (size_t)(o - p));
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        p += w;
    }
}

void dp_accesslog_register(h2o_pathconf_t *pathconf, int fd)
{
    dp_accesslog_t *l = (dp_accesslog_t *)h2o_create_logger(pathconf, sizeof(*l));
    l->super.log_access = on_log_access;
    l->fd = fd;
}
