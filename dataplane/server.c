/* Listeners, threads and the h2o configuration of the data plane (see
 * server.h). Every thread owns an event loop, an h2o context and one
 * listening socket per listener, all bound to the same port with
 * SO_REUSEPORT so the kernel spreads connections across threads. A thread
 * never touches another thread's loop; the main thread only wakes them
 * through each context's message queue. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <h2o.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "usage.h"

typedef struct st_dp_listener_t {
    int is_tls;
    /* one listening socket per thread */
    int *fds;
    /* as bound: "127.0.0.1:41234" */
    char bound[128];
} dp_listener_t;

typedef struct st_dp_worker_t {
    dp_server_t *server;
    size_t index;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_plain;
    h2o_accept_ctx_t accept_tls;
    /* this thread's listening sockets, one per listener */
    h2o_socket_t **socks;
    /* woken (with no message) when the server stops */
    h2o_multithread_receiver_t wake;
} dp_worker_t;

struct st_dp_server_t {
    h2o_globalconf_t conf;
    h2o_hostconf_t *hostconf;
    SSL_CTX *ssl_ctx;
    size_t n_listeners;
    dp_listener_t *listeners;
    size_t n_workers;
    dp_worker_t *workers;
    /* set once by dp_server_stop, read by every loop */
    int stopping;
    int grace_ms;
    /* start-up handshake: workers ready to accept */
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    size_t ready;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Splits "host:port" / "[v6]:port" / ":port" into host (NULL = any) and port. */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    const char *h = addr;
    size_t hl;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (rb == NULL || rb[1] != ':') return -1;
        h = addr + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) return -1;
        hl = (size_t)(colon - addr);
        if (memchr(addr, ':', hl) != NULL) return -1; /* bare IPv6 needs brackets */
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen || colon[1] == '\0') return -1;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    if (atol(colon + 1) > 65535) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static void format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    char host[NI_MAXHOST] = "?";
    getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
    int port = h2o_socket_getport((struct sockaddr *)sa);
    snprintf(out, outlen, sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

static int bind_one(const struct addrinfo *ai, const struct sockaddr *sa, socklen_t salen,
                    int reuseport, int do_listen, char *err, size_t errlen)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (bind(fd, sa, salen) != 0) {
        snprintf(err, errlen, "cannot bind: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (do_listen && (listen(fd, H2O_SOMAXCONN) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0)) {
        snprintf(err, errlen, "cannot listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int dp_listen(const char *addr, size_t n, int *fds, char *bound, size_t boundlen, char *err,
              size_t errlen)
{
    char host[256], port[8];
    if (split_addr(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "expected HOST:PORT, [IPv6]:PORT or :PORT");
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    /* ":8080" means every IPv4 address; "[::]:8080" every IPv6 one */
    hints.ai_family = host[0] ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = res->ai_addrlen;
    memcpy(&ss, res->ai_addr, sl);
    size_t done = 0;

    /* A probe without SO_REUSEPORT takes the port alone: it fails if anyone
     * holds the port (rather than silently sharing it), and picks the port
     * when 0 is given; the real sockets then bind to that port. */
    if (n > 1) {
        int probe = bind_one(res, (struct sockaddr *)&ss, sl, 0, 0, err, errlen);
        if (probe < 0) goto Fail;
        socklen_t l = sizeof(ss);
        getsockname(probe, (struct sockaddr *)&ss, &l);
        close(probe);
    }
    for (; done < n; done++) {
        if ((fds[done] = bind_one(res, (struct sockaddr *)&ss, sl, n > 1, 1, err, errlen)) < 0)
            goto Fail;
        if (done == 0) {
            socklen_t l = sizeof(ss);
            getsockname(fds[0], (struct sockaddr *)&ss, &l);
        }
    }
    format_addr((struct sockaddr *)&ss, sl, bound, boundlen);
    freeaddrinfo(res);
    return 0;
Fail:
    while (done > 0)
        close(fds[--done]);
    freeaddrinfo(res);
    return -1;
}

/* Why a PEM file could not be used, in words: the system's reason when it
 * cannot be read, else what it should have held. */
static const char *pem_problem(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return strerror(errno);
    fclose(f);
    ERR_clear_error();
    return what;
}

static SSL_CTX *make_ssl_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "--tls-cert %s: %s", cert,
                 pem_problem(cert, "no PEM certificate (chain) in it"));
        goto Fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "--tls-key %s: %s", key,
                 pem_problem(key, "no unencrypted PEM private key in it"));
        goto Fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "--tls-key %s does not match --tls-cert %s", key, cert);
        goto Fail;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
    return ctx;
Fail:
    SSL_CTX_free(ctx);
    return NULL;
}

dp_server_t *dp_server_new(const dp_server_opts_t *o, char *err, size_t errlen)
{
    if (o->threads < 1) {
        snprintf(err, errlen, "at least one thread is needed");
        return NULL;
    }
    dp_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mutex, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->n_workers = o->threads;

    h2o_config_init(&s->conf);
    s->conf.server_name = h2o_iovec_init(H2O_STRLIT("apiplatform-dp"));
    /* Bodies are buffered whole before the handler runs. HTTP/1 bodies over
     * h2o's limit get h2o's 413 (rewritten by the response filter), but
     * HTTP/2 ones only a RST_STREAM, so h2o's limit sits above ours and the
     * handler answers 413 for bodies up to twice the limit on both. */
    size_t max = o->handler.max_body_bytes;
    s->conf.max_request_entity_size = max > SIZE_MAX / 2 ? SIZE_MAX : max * 2;
    s->conf.proxy.emit_x_forwarded_headers = 1;
    s->conf.proxy.emit_via_header = 0;
    s->conf.proxy.preserve_x_forwarded_proto = 0;
    /* one host, and only its fallback path: every request, and every error
     * h2o sends before a handler runs, goes through the same handler, filter
     * and logger */
    s->hostconf = h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = &s->hostconf->fallback_path;
    /* upstream failures are logged by the handler, with the request id */
    pathconf->error_log.emit_request_errors = 0;
    if (dp_handler_register(pathconf, &o->handler, err, errlen) != 0) goto Fail;
    dp_accesslog_register(pathconf, o->access_log_fd);
    dp_usage_register(pathconf);

    if (o->n_tls_listen != 0 &&
        (s->ssl_ctx = make_ssl_ctx(o->tls_cert, o->tls_key, err, errlen)) == NULL)
        goto Fail;

    s->listeners = calloc(o->n_listen + o->n_tls_listen, sizeof(*s->listeners));
    if (s->listeners == NULL) goto Oom;
    for (size_t i = 0; i < o->n_listen + o->n_tls_listen; i++) {
        dp_listener_t *l = &s->listeners[i];
        int tls = i >= o->n_listen;
        const char *addr = tls ? o->tls_listen[i - o->n_listen] : o->listen[i];
        l->is_tls = tls;
        if ((l->fds = calloc(s->n_workers, sizeof(int))) == NULL) goto Oom;
        char why[256];
        if (dp_listen(addr, s->n_workers, l->fds, l->bound, sizeof(l->bound), why, sizeof(why)) !=
            0) {
            snprintf(err, errlen, "--%s %s: %s", tls ? "tls-listen" : "listen", addr, why);
            free(l->fds);
            goto Fail;
        }
        s->n_listeners++;
    }
    return s;
Oom:
    snprintf(err, errlen, "out of memory");
Fail:
    for (size_t i = 0; i < s->n_listeners; i++) {
        for (size_t j = 0; j < s->n_workers; j++)
            close(s->listeners[i].fds[j]);
        free(s->listeners[i].fds);
    }
    free(s->listeners);
    if (s->ssl_ctx) SSL_CTX_free(s->ssl_ctx);
    free(s);
    return NULL;
}

const char *dp_server_listener(const dp_server_t *s, size_t i, int *is_tls)
{
    if (i >= s->n_listeners) return NULL;
    if (is_tls) *is_tls = s->listeners[i].is_tls;
    return s->listeners[i].bound;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL) return;
    h2o_accept_ctx_t *actx = listener->data;
    h2o_socket_t *sock;
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(actx, sock);
}

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    /* nothing to do: waking the loop is the point */
}

static void *worker_main(void *arg)
{
    dp_worker_t *w = arg;
    dp_server_t *s = w->server;
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &s->conf);
    h2o_multithread_register_receiver(w->ctx.queue, &w->wake, on_wake);
    w->accept_plain = (h2o_accept_ctx_t){.ctx = &w->ctx, .hosts = s->conf.hosts};
    w->accept_tls =
        (h2o_accept_ctx_t){.ctx = &w->ctx, .hosts = s->conf.hosts, .ssl_ctx = s->ssl_ctx};
    for (size_t i = 0; i < s->n_listeners; i++) {
        dp_listener_t *l = &s->listeners[i];
        w->socks[i] =
            h2o_evloop_socket_create(w->loop, l->fds[w->index], H2O_SOCKET_FLAG_DONT_READ);
        w->socks[i]->data = l->is_tls ? &w->accept_tls : &w->accept_plain;
        h2o_socket_read_start(w->socks[i], on_accept);
    }
    pthread_mutex_lock(&s->mutex);
    s->ready++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mutex);

    while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
        h2o_evloop_run(w->loop, INT32_MAX);

    /* stop accepting; HTTP/2 connections get GOAWAY, HTTP/1 ones close after
     * their current response */
    for (size_t i = 0; i < s->n_listeners; i++) {
        h2o_socket_read_stop(w->socks[i]);
        h2o_socket_close(w->socks[i]);
    }
    h2o_context_request_shutdown(&w->ctx);
    uint64_t deadline = now_ms() + (uint64_t)s->grace_ms;
    while (dp_handler_inflight() != 0 && now_ms() < deadline)
        h2o_evloop_run(w->loop, 10);
    /* idle connections and anything past the grace period end with the
     * process; the context is not disposed under them */
    return NULL;
}

int dp_server_start(dp_server_t *s, char *err, size_t errlen)
{
    s->workers = calloc(s->n_workers, sizeof(*s->workers));
    if (s->workers == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->n_workers; i++) {
        dp_worker_t *w = &s->workers[i];
        w->server = s;
        w->index = i;
        if ((w->socks = calloc(s->n_listeners ? s->n_listeners : 1, sizeof(*w->socks))) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        h2o_multithread_create_thread(&w->tid, NULL, worker_main, w);
    }
    pthread_mutex_lock(&s->mutex);
    while (s->ready < s->n_workers)
        pthread_cond_wait(&s->cond, &s->mutex);
    pthread_mutex_unlock(&s->mutex);
    return 0;
}

void dp_server_stop(dp_server_t *s, int grace_ms)
{
    s->grace_ms = grace_ms < 0 ? 0 : grace_ms;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; i < s->n_workers; i++)
        h2o_multithread_send_message(&s->workers[i].wake, NULL);
    for (size_t i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i].tid, NULL);
}
