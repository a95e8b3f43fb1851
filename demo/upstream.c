/* demo-upstream: a small HTTP service to put behind the gateway, for the
 * README's walkthrough and the integration tests. One h2o event loop.
 *   GET /orders/{id}   200 {"id": "...", "status": "shipped", "items": 2}
 *   ANY /echo/...      200 what arrived: method, path (with query), headers,
 *                      body_len, body_sha256
 *   ANY /raw/...       200 the request body byte for byte, same content-type
 *   ANY /slow/{ms}     200 after ms milliseconds (a timer, the loop keeps
 *                      serving others)
 *   ANY /status/{code} that status */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <h2o.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ap_log.h"
#include "ap_token.h"

/* A timer of one duration for /slow; created on first use, never moved. */
typedef struct st_slow_timeout_t {
    struct st_slow_timeout_t *next;
    uint64_t ms;
    h2o_timeout_t timeout;
} slow_timeout_t;

/* One delayed answer; unlinked if the request goes away first. */
typedef struct st_slow_t {
    h2o_timeout_entry_t entry;
    h2o_req_t *req;
    uint64_t ms;
} slow_t;

/* the loop's timers for /slow (single-threaded) */
static slow_timeout_t *slow_timeouts;

static int prefix(h2o_iovec_t path, const char *p)
{
    size_t n = strlen(p);
    return path.len >= n && memcmp(path.base, p, n) == 0;
}

static void send_json(h2o_req_t *req, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    h2o_iovec_t body = h2o_strdup(&req->pool, s ? s : "{}", SIZE_MAX);
    free(s);
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Status";
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, body.base, body.len);
}

/* A JSON string of n bytes; bytes that are not valid UTF-8 become '?'. */
static json_t *jstr(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j != NULL) return j;
    char *copy = malloc(n + 1);
    if (copy == NULL) return json_string("");
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    j = json_stringn(copy, n);
    free(copy);
    return j ? j : json_string("");
}

static void on_orders(h2o_req_t *req, h2o_iovec_t path)
{
    h2o_iovec_t id = h2o_iovec_init(path.base + 8, path.len - 8);
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        send_json(req, 405, json_pack("{s:s}", "error", "GET only"));
        return;
    }
    if (id.len == 0 || memchr(id.base, '/', id.len) != NULL) {
        send_json(req, 404, json_pack("{s:s}", "error", "no such order"));
        return;
    }
    send_json(
        req, 200,
        json_pack("{s:o,s:s,s:i}", "id", jstr(id.base, id.len), "status", "shipped", "items", 2));
}

static void on_echo(h2o_req_t *req)
{
    json_t *headers = json_object();
    for (size_t i = 0; i != req->headers.size; i++) {
        const h2o_header_t *h = req->headers.entries + i;
        char *name = h2o_mem_alloc_pool(&req->pool, h->name->len + 1);
        for (size_t k = 0; k < h->name->len; k++)
            name[k] = (char)h2o_tolower(h->name->base[k]);
        name[h->name->len] = '\0';
        json_t *prev = json_object_get(headers, name);
        if (prev != NULL) {
            /* repeated header: join like a list header */
            size_t pl = json_string_length(prev);
            char *joined = malloc(pl + 2 + h->value.len);
            if (joined != NULL) {
                memcpy(joined, json_string_value(prev), pl);
                memcpy(joined + pl, ", ", 2);
                memcpy(joined + pl + 2, h->value.base, h->value.len);
                json_object_set_new(headers, name, jstr(joined, pl + 2 + h->value.len));
                free(joined);
            }
        } else {
            json_object_set_new(headers, name, jstr(h->value.base, h->value.len));
        }
    }
    if (json_object_get(headers, "host") == NULL)
        json_object_set_new(headers, "host", jstr(req->authority.base, req->authority.len));
    char sha[65];
    ap_sha256_hex(req->entity.base ? req->entity.base : "", req->entity.len, sha);
    send_json(req, 200,
              json_pack("{s:o,s:o,s:o,s:I,s:s}", "method", jstr(req->method.base, req->method.len),
                        "path", jstr(req->input.path.base, req->input.path.len), "headers", headers,
                        "body_len", (json_int_t)req->entity.len, "body_sha256", sha));
}

static void on_raw(h2o_req_t *req)
{
    ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = req->entity.len;
    if (ct != -1)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       req->headers.entries[ct].value.base, req->headers.entries[ct].value.len);
    else
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/octet-stream"));
    h2o_send_inline(req, req->entity.base ? req->entity.base : "", req->entity.len);
}

static void on_slow_timeout(h2o_timeout_entry_t *entry)
{
    slow_t *s = H2O_STRUCT_FROM_MEMBER(slow_t, entry, entry);
    send_json(s->req, 200, json_pack("{s:I}", "slept_ms", (json_int_t)s->ms));
}

static void on_slow_dispose(void *p)
{
    slow_t *s = p;
    if (h2o_timeout_is_linked(&s->entry)) h2o_timeout_unlink(&s->entry);
}

static void on_slow(h2o_req_t *req, h2o_iovec_t arg)
{
    size_t ms = h2o_strtosize(arg.base, arg.len);
    if (ms == SIZE_MAX || ms > 600000) {
        send_json(req, 400, json_pack("{s:s}", "error", "expected /slow/{ms}, ms <= 600000"));
        return;
    }
    slow_timeout_t *t;
    for (t = slow_timeouts; t != NULL && t->ms != ms; t = t->next)
        ;
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        if (t == NULL) abort();
        t->ms = ms;
        h2o_timeout_init(req->conn->ctx->loop, &t->timeout, ms);
        t->next = slow_timeouts;
        slow_timeouts = t;
    }
    slow_t *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_slow_dispose);
    memset(s, 0, sizeof(*s));
    s->req = req;
    s->ms = ms;
    s->entry.cb = on_slow_timeout;
    h2o_timeout_link(req->conn->ctx->loop, &t->timeout, &s->entry);
}

static void on_status(h2o_req_t *req, h2o_iovec_t arg)
{
    size_t code = h2o_strtosize(arg.base, arg.len);
    if (code == SIZE_MAX || code < 200 || code > 599) {
        send_json(req, 400, json_pack("{s:s}", "error", "expected /status/{200..599}"));
        return;
    }
    if (code == 204 || code == 304) {
        req->res.status = (int)code;
        req->res.reason = "Status";
        req->res.content_length = 0;
        h2o_send_inline(req, "", 0);
        return;
    }
    send_json(req, (int)code, json_pack("{s:I}", "status", (json_int_t)code));
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    h2o_iovec_t path = h2o_iovec_init(req->path.base, plen);
    if (prefix(path, "/orders/"))
        on_orders(req, path);
    else if (prefix(path, "/echo/") || h2o_memis(path.base, path.len, H2O_STRLIT("/echo")))
        on_echo(req);
    else if (prefix(path, "/raw/") || h2o_memis(path.base, path.len, H2O_STRLIT("/raw")))
        on_raw(req);
    else if (prefix(path, "/slow/"))
        on_slow(req, h2o_iovec_init(path.base + 6, path.len - 6));
    else if (prefix(path, "/status/"))
        on_status(req, h2o_iovec_init(path.base + 8, path.len - 8));
    else
        send_json(req, 404, json_pack("{s:s}", "error", "not found"));
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL) return;
    h2o_socket_t *sock;
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(listener->data, sock);
}

/* Binds addr ("127.0.0.1:9000", "[::1]:0"); returns the fd or -1. */
static int listen_on(const char *addr, char *bound, size_t boundlen)
{
    char host[256];
    const char *colon = addr[0] == '[' ? strstr(addr, "]:") : strrchr(addr, ':');
    if (colon == NULL) return -1;
    size_t hl = (size_t)(colon - addr) - (addr[0] == '[');
    if (hl >= sizeof(host)) return -1;
    memcpy(host, addr + (addr[0] == '['), hl);
    host[hl] = '\0';
    const char *port = colon + (addr[0] == '[' ? 2 : 1);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, H2O_SOMAXCONN) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char h[NI_MAXHOST] = "?";
    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), NULL, 0, NI_NUMERICHOST);
    snprintf(bound, boundlen, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", h,
             h2o_socket_getport((struct sockaddr *)&ss));
    return fd;
}

int main(int argc, char **argv)
{
    static const struct option OPTS[] = {
        {"listen", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *addr = "127.0.0.1:9000";
    int opt;
    while ((opt = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        switch (opt) {
        case 'l':
            addr = optarg;
            break;
        case 'h':
            printf("usage: demo-upstream [--listen ADDR]   (default 127.0.0.1:9000; port 0 "
                   "picks one)\n"
                   "  GET /orders/{id}, ANY /echo/..., ANY /raw/..., /slow/{ms}, /status/{code}\n");
            return 0;
        default:
            fprintf(stderr, "usage: demo-upstream [--listen ADDR]\n");
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "demo-upstream: unexpected argument \"%s\"\n", argv[optind]);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    char bound[300];
    int fd = listen_on(addr, bound, sizeof(bound));
    if (fd < 0) {
        fprintf(stderr, "demo-upstream: cannot listen on %s: %s\n", addr,
                errno ? strerror(errno) : "bad address");
        return 1;
    }

    static h2o_globalconf_t conf;
    h2o_config_init(&conf);
    conf.server_name = h2o_iovec_init(H2O_STRLIT("demo-upstream"));
    conf.max_request_entity_size = 64 * 1024 * 1024;
    h2o_hostconf_t *host =
        h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_handler_t *h = h2o_create_handler(&host->fallback_path, sizeof(*h));
    h->on_req = on_req;

    h2o_evloop_t *loop = h2o_evloop_create();
    static h2o_context_t ctx;
    h2o_context_init(&ctx, loop, &conf);
    static h2o_accept_ctx_t accept_ctx;
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = conf.hosts;
    h2o_socket_t *sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = &accept_ctx;
    h2o_socket_read_start(sock, on_accept);
    ap_log(AP_LOG_INFO, "listening", "addr=%s", bound);
    for (;;)
        h2o_evloop_run(loop, INT32_MAX);
}
