/* The admin listener (see admin.h): its own h2o configuration, loop and
 * thread, so a flood of API traffic or a slow upstream never delays a
 * health check, and API requests can never reach these paths. */
#include "admin.h"

#include <h2o.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "problem.h"
#include "server.h"
#include "sync.h"

struct st_dp_admin_t {
    h2o_globalconf_t conf;
    char node_id[256];
    char bound[128];
    int fd;
    struct timespec started;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    h2o_socket_t *sock;
    h2o_multithread_receiver_t wake;
    /* set once by dp_admin_set_draining / dp_admin_stop, read by the loop */
    int draining;
    int stopping;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int ready;
};

typedef struct st_dp_admin_handler_t {
    h2o_handler_t super;
    dp_admin_t *admin;
} dp_admin_handler_t;

static void respond(h2o_req_t *req, int status, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = dp_problem_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    dp_admin_t *a = ((dp_admin_handler_t *)_self)->admin;
    size_t plen = req->input.query_at != SIZE_MAX ? req->input.query_at : req->input.path.len;
    h2o_iovec_t path = h2o_iovec_init(req->input.path.base, plen);
    char body[1024];
    int n;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                       H2O_STRLIT("GET, HEAD"));
        n = snprintf(body, sizeof(body), "{\"error\":\"method not allowed\"}\n");
        respond(req, 405, body, (size_t)n);
        return 0;
    }

    dp_config_t *c = dp_current_acquire();
    unsigned long long rev = c != NULL ? (unsigned long long)dp_config_revision(c) : 0;
    if (c != NULL) dp_config_release(c);
    const char *connected = dp_sync_connected() ? "true" : "false";
    int draining = __atomic_load_n(&a->draining, __ATOMIC_ACQUIRE);

    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        n = snprintf(body, sizeof(body), "{\"status\":\"ok\",\"revision\":%llu,\"connected\":%s}\n",
                     rev, connected);
        respond(req, 200, body, (size_t)n);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"))) {
        const char *status = draining ? "draining" : c != NULL ? "ready" : "not_ready";
        n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"revision\":%llu,\"connected\":%s}\n",
                     status, rev, connected);
        respond(req, c != NULL && !draining ? 200 : 503, body, (size_t)n);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/status"))) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        char id[sizeof(a->node_id) * 6 + 2];
        id[dp_json_quote(id, a->node_id, strlen(a->node_id))] = '\0';
        n = snprintf(body, sizeof(body),
                     "{\"node_id\":%s,\"revision\":%llu,\"connected\":%s,\"ready\":%s,"
                     "\"draining\":%s,\"uptime_s\":%lld}\n",
                     id, rev, connected, c != NULL ? "true" : "false", draining ? "true" : "false",
                     (long long)(now.tv_sec - a->started.tv_sec));
        respond(req, 200, body, (size_t)n);
    } else {
        n = snprintf(
            body, sizeof(body),
            "{\"error\":\"not found\",\"paths\":[\"/healthz\",\"/readyz\",\"/status\"]}\n");
        respond(req, 404, body, (size_t)n);
    }
    return 0;
}

dp_admin_t *dp_admin_new(const dp_admin_opts_t *o, char *err, size_t errlen)
{
    dp_admin_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(a->node_id, sizeof(a->node_id), "%s", o->node_id ? o->node_id : "");
    clock_gettime(CLOCK_MONOTONIC, &a->started);
    pthread_mutex_init(&a->mutex, NULL);
    pthread_cond_init(&a->cond, NULL);
    char why[256];
    if (dp_listen(o->listen, 1, &a->fd, a->bound, sizeof(a->bound), why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--admin-listen %s: %s", o->listen, why);
        free(a);
        return NULL;
    }
    h2o_config_init(&a->conf);
    a->conf.server_name = h2o_iovec_init(H2O_STRLIT("apiplatform-dp"));
    a->conf.max_request_entity_size = 64 * 1024;
    h2o_hostconf_t *host =
        h2o_config_register_host(&a->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    dp_admin_handler_t *h =
        (dp_admin_handler_t *)h2o_create_handler(&host->fallback_path, sizeof(*h));
    h->super.on_req = on_req;
    h->admin = a;
    return a;
}

const char *dp_admin_addr(const dp_admin_t *a)
{
    return a->bound;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL) return;
    h2o_socket_t *sock;
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(listener->data, sock);
}

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {}

static void *admin_main(void *arg)
{
    dp_admin_t *a = arg;
    a->loop = h2o_evloop_create();
    h2o_context_init(&a->ctx, a->loop, &a->conf);
    h2o_multithread_register_receiver(a->ctx.queue, &a->wake, on_wake);
    a->accept = (h2o_accept_ctx_t){.ctx = &a->ctx, .hosts = a->conf.hosts};
    a->sock = h2o_evloop_socket_create(a->loop, a->fd, H2O_SOCKET_FLAG_DONT_READ);
    a->sock->data = &a->accept;
    h2o_socket_read_start(a->sock, on_accept);
    pthread_mutex_lock(&a->mutex);
    a->ready = 1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mutex);
    while (!__atomic_load_n(&a->stopping, __ATOMIC_ACQUIRE))
        h2o_evloop_run(a->loop, INT32_MAX);
    h2o_socket_read_stop(a->sock);
    h2o_socket_close(a->sock);
    return NULL;
}

int dp_admin_start(dp_admin_t *a, char *err, size_t errlen)
{
    h2o_multithread_create_thread(&a->tid, NULL, admin_main, a);
    pthread_mutex_lock(&a->mutex);
    while (!a->ready)
        pthread_cond_wait(&a->cond, &a->mutex);
    pthread_mutex_unlock(&a->mutex);
    return 0;
}

void dp_admin_set_draining(dp_admin_t *a)
{
    __atomic_store_n(&a->draining, 1, __ATOMIC_RELEASE);
}

void dp_admin_stop(dp_admin_t *a)
{
    __atomic_store_n(&a->stopping, 1, __ATOMIC_RELEASE);
    h2o_multithread_send_message(&a->wake, NULL);
    pthread_join(a->tid, NULL);
}
