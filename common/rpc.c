/* gRPC plumbing over gRPC C core (see ap_rpc.h).
 *
 * Server: one completion queue drained by the thread that calls
 * ap_server_run. Every call is a small state machine driven by its batches:
 * REQUESTED (a slot waiting for a new call) -> RECEIVING (initial metadata
 * sent, request message awaited) -> FINISHING (response and status sent,
 * close awaited) -> freed. Handlers run on the queue thread, one at a time,
 * so whatever they touch needs no lock against other handlers.
 *
 * Client: a channel with its own pluck queue; a unary call is one batch of
 * six ops. */
#include "ap_rpc.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 32 /* calls waiting to be accepted at once */

grpc_status_code ap_status_set(ap_status_t *st, grpc_status_code code, const char *fmt, ...)
{
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof(st->message), fmt, ap);
    va_end(ap);
    return code;
}

void ap_status_prefix(ap_status_t *st, const char *fmt, ...)
{
    char msg[sizeof(st->message)], prefix[128];
    memcpy(msg, st->message, sizeof(msg));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    snprintf(st->message, sizeof(st->message), "%s: %.380s", prefix, msg);
}

const char *ap_status_name(grpc_status_code code)
{
    static const char *names[] = {"OK",
                                  "CANCELLED",
                                  "UNKNOWN",
                                  "INVALID_ARGUMENT",
                                  "DEADLINE_EXCEEDED",
                                  "NOT_FOUND",
                                  "ALREADY_EXISTS",
                                  "PERMISSION_DENIED",
                                  "RESOURCE_EXHAUSTED",
                                  "FAILED_PRECONDITION",
                                  "ABORTED",
                                  "OUT_OF_RANGE",
                                  "UNIMPLEMENTED",
                                  "INTERNAL",
                                  "UNAVAILABLE",
                                  "DATA_LOSS",
                                  "UNAUTHENTICATED"};
    if ((unsigned)code < sizeof(names) / sizeof(names[0])) return names[code];
    return "UNKNOWN";
}

static char *read_file(const char *path, ap_status_t *st)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "cannot read %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static int tls_on(const ap_tls_t *tls)
{
    return tls != NULL && (tls->cert_file != NULL || tls->ca_file != NULL);
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

/* ---- server ---- */

/* Every tag posted to the queue starts with its kind, so one loop can drive
 * unary calls (one batch at a time) and streams (several at once). */
enum tag_kind { TAG_CALL, TAG_S_RECV, TAG_S_SEND, TAG_S_STATUS, TAG_S_CLOSE };
enum call_state { CALL_REQUESTED, CALL_RECEIVING, CALL_FINISHING };

typedef struct st_ap_stream_t call_t;

typedef struct st_tag_t {
    enum tag_kind kind;
    call_t *call;
} tag_t;

typedef struct st_sendq_t {
    grpc_byte_buffer *bb;
    struct st_sendq_t *next;
} sendq_t;

struct st_ap_stream_t {
    tag_t tag; /* TAG_CALL: the accept and unary batches */
    enum call_state state;
    ap_server_t *srv;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *recv;
    grpc_byte_buffer *send;
    grpc_slice status_details;
    int status_set;
    int cancelled;
    char method[256];
    /* streams only */
    const ap_stream_method_t *sm;
    tag_t t_recv, t_send, t_status, t_close;
    int refs;      /* batches in flight */
    int ended;     /* the close batch completed */
    int finishing; /* a status is due once the queue drains */
    int status_sent;
    grpc_status_code fin_code;
    sendq_t *q_head, *q_tail;
    size_t queued;
    grpc_byte_buffer *sending;
    void *data;
    char *auth, *peer, *cn;
    ap_call_info_t ci;
    call_t *prev, *next; /* the server's open streams */
};

struct st_ap_server_t {
    ap_server_opts_t opts;
    grpc_server *server;
    grpc_completion_queue *cq;
    int port;
    int live;    /* calls accepted and not yet freed */
    int pending; /* request slots posted and not yet returned */
    int accepting;
    call_t *streams;
};

static tag_t shutdown_tag;

static void post_slot(ap_server_t *srv)
{
    call_t *c = calloc(1, sizeof(*c));
    c->tag = (tag_t){TAG_CALL, c};
    c->srv = srv;
    c->state = CALL_REQUESTED;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    if (grpc_server_request_call(srv->server, &c->call, &c->details, &c->md, srv->cq, srv->cq,
                                 &c->tag) != GRPC_CALL_OK) {
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->md);
        free(c);
        return;
    }
    srv->pending++;
}

static void call_free(call_t *c)
{
    if (c->call != NULL) grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    if (c->recv != NULL) grpc_byte_buffer_destroy(c->recv);
    if (c->send != NULL) grpc_byte_buffer_destroy(c->send);
    if (c->sending != NULL) grpc_byte_buffer_destroy(c->sending);
    for (sendq_t *q = c->q_head, *n; q != NULL; q = n) {
        n = q->next;
        grpc_byte_buffer_destroy(q->bb);
        free(q);
    }
    if (c->status_set) grpc_slice_unref(c->status_details);
    free(c->auth);
    free(c->cn);
    if (c->peer) gpr_free(c->peer);
    free(c);
}

/* Sends the response (if any) and the status, and waits for the close. */
static void finish(ap_server_t *srv, call_t *c, const ProtobufCMessage *resp, ap_status_t *st,
                   int send_initial)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (send_initial) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (resp != NULL && st->code == GRPC_STATUS_OK) {
        c->send = pack(resp);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->send;
    }
    c->status_details =
        grpc_slice_from_copied_string(st->code == GRPC_STATUS_OK ? "" : st->message);
    c->status_set = 1;
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = st->code;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->state = CALL_FINISHING;
    if (grpc_call_start_batch(c->call, ops, n, &c->tag, NULL) != GRPC_CALL_OK) {
        srv->live--;
        call_free(c);
    }
}

static const ap_method_t *find_method(const ap_server_t *srv, const char *path)
{
    for (size_t i = 0; i < srv->opts.n_methods; i++)
        if (strcmp(srv->opts.methods[i].path, path) == 0) return &srv->opts.methods[i];
    return NULL;
}

static const ap_stream_method_t *find_stream(const ap_server_t *srv, const char *path)
{
    for (size_t i = 0; i < srv->opts.n_streams; i++)
        if (strcmp(srv->opts.streams[i].path, path) == 0) return &srv->opts.streams[i];
    return NULL;
}

static char *md_value(const grpc_metadata_array *md, const char *key)
{
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == strlen(key) &&
            memcmp(GRPC_SLICE_START_PTR(*k), key, strlen(key)) == 0) {
            const grpc_slice *v = &md->metadata[i].value;
            size_t n = GRPC_SLICE_LENGTH(*v);
            char *s = malloc(n + 1);
            memcpy(s, GRPC_SLICE_START_PTR(*v), n);
            s[n] = '\0';
            return s;
        }
    }
    return NULL;
}

static char *peer_cn(grpc_call *call)
{
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    if (ctx == NULL) return NULL;
    char *cn = NULL;
    grpc_auth_property_iterator it =
        grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_CN_PROPERTY_NAME);
    const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
    if (p != NULL) {
        cn = malloc(p->value_length + 1);
        memcpy(cn, p->value, p->value_length);
        cn[p->value_length] = '\0';
    }
    grpc_auth_context_release(ctx);
    return cn;
}

/* Fills c->ci from the call's metadata, peer and certificate. */
static void load_info(call_t *c)
{
    c->auth = md_value(&c->md, "authorization");
    c->peer = grpc_call_get_peer(c->call);
    c->cn = peer_cn(c->call);
    c->ci = (ap_call_info_t){c->method, c->auth, c->peer, c->cn, c->details.deadline};
}

/* The request message has arrived: authorise, run the handler, answer. */
static void dispatch(ap_server_t *srv, call_t *c)
{
    ap_status_t st = {GRPC_STATUS_OK, ""};
    const ap_method_t *m = find_method(srv, c->method);
    ProtobufCMessage *req = NULL, *resp = NULL;
    load_info(c);
    gpr_timespec t0 = gpr_now(GPR_CLOCK_MONOTONIC);

    if (c->recv == NULL) {
        ap_status_set(&st, GRPC_STATUS_INVALID_ARGUMENT, "request message missing");
    } else if ((req = unpack(m->request, c->recv)) == NULL) {
        ap_status_set(&st, GRPC_STATUS_INVALID_ARGUMENT, "request is not a valid %s message",
                      m->request->name);
    } else if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_convert_clock_type(c->details.deadline, GPR_CLOCK_MONOTONIC)) > 0) {
        ap_status_set(&st, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed before the call ran");
    } else if (srv->opts.auth == NULL || srv->opts.auth(srv->opts.ctx, &c->ci, &st) == 0) {
        t0 = gpr_now(GPR_CLOCK_MONOTONIC);
        resp = m->fn(srv->opts.ctx, &c->ci, req, &st);
        if (resp == NULL && st.code == GRPC_STATUS_OK)
            ap_status_set(&st, GRPC_STATUS_INTERNAL, "handler returned nothing");
    }
    if (srv->opts.done != NULL)
        srv->opts.done(srv->opts.ctx, &c->ci, &st,
                       gpr_timespec_to_micros(gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), t0)) /
                           1000.0);
    finish(srv, c, resp, &st, 0);
    if (resp != NULL) protobuf_c_message_free_unpacked(resp, NULL);
    if (req != NULL) protobuf_c_message_free_unpacked(req, NULL);
}

/* ---- server streams ---- */

static void stream_release(call_t *c)
{
    if (--c->refs > 0) return;
    c->srv->live--;
    call_free(c);
}

static int stream_batch(call_t *c, grpc_op *ops, size_t n, tag_t *tag)
{
    c->refs++;
    if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK) {
        c->refs--;
        return -1;
    }
    return 0;
}

static void stream_post_recv(call_t *c, int with_initial)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (with_initial) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &c->recv;
    stream_batch(c, ops, n, &c->t_recv);
}

static void stream_send_status(call_t *c, int with_initial)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (with_initial) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = c->fin_code;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    c->status_sent = 1;
    stream_batch(c, ops, n, &c->t_status);
}

static void stream_send_next(call_t *c)
{
    if (c->sending != NULL || c->ended) return;
    if (c->q_head == NULL) {
        if (c->finishing && !c->status_sent) stream_send_status(c, 0);
        return;
    }
    sendq_t *q = c->q_head;
    c->q_head = q->next;
    if (c->q_head == NULL) c->q_tail = NULL;
    c->queued--;
    c->sending = q->bb;
    free(q);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = c->sending;
    if (stream_batch(c, &op, 1, &c->t_send) != 0) {
        grpc_byte_buffer_destroy(c->sending);
        c->sending = NULL;
    }
}

int ap_stream_send(ap_stream_t *c, const ProtobufCMessage *m)
{
    if (c->ended || c->finishing) return -1;
    sendq_t *q = calloc(1, sizeof(*q));
    q->bb = pack(m);
    if (c->q_tail)
        c->q_tail->next = q;
    else
        c->q_head = q;
    c->q_tail = q;
    c->queued++;
    stream_send_next(c);
    return 0;
}

void ap_stream_finish(ap_stream_t *c, grpc_status_code code, const char *message)
{
    if (c->ended || c->finishing) return;
    c->finishing = 1;
    c->fin_code = code;
    c->status_details = grpc_slice_from_copied_string(message ? message : "");
    c->status_set = 1;
    stream_send_next(c);
}

size_t ap_stream_queued(const ap_stream_t *c)
{
    return c->queued + (c->sending != NULL);
}

const ap_call_info_t *ap_stream_info(const ap_stream_t *c)
{
    return &c->ci;
}

void ap_stream_set_data(ap_stream_t *c, void *data)
{
    c->data = data;
}

void *ap_stream_data(const ap_stream_t *c)
{
    return c->data;
}

static void stream_open(ap_server_t *srv, call_t *c, const ap_stream_method_t *sm)
{
    c->sm = sm;
    c->t_recv = (tag_t){TAG_S_RECV, c};
    c->t_send = (tag_t){TAG_S_SEND, c};
    c->t_status = (tag_t){TAG_S_STATUS, c};
    c->t_close = (tag_t){TAG_S_CLOSE, c};
    load_info(c);
    c->next = srv->streams;
    if (srv->streams) srv->streams->prev = c;
    srv->streams = c;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    c->refs = 1; /* held until the close batch completes */
    if (grpc_call_start_batch(c->call, &op, 1, &c->t_close, NULL) != GRPC_CALL_OK) {
        srv->streams = c->next;
        if (c->next) c->next->prev = NULL;
        stream_release(c);
        return;
    }
    ap_status_t st = {GRPC_STATUS_OK, ""};
    if (!srv->accepting) {
        ap_status_set(&st, GRPC_STATUS_UNAVAILABLE, "server shutting down");
    } else if (sm->on_open(sm->ctx ? sm->ctx : srv->opts.ctx, c, &c->ci, &st) == 0) {
        stream_post_recv(c, 1);
        return;
    }
    c->finishing = 1;
    c->fin_code = st.code;
    c->status_details = grpc_slice_from_copied_string(st.message);
    c->status_set = 1;
    c->sm = NULL; /* refused: no callbacks */
    stream_send_status(c, 1);
}

static void stream_event(ap_server_t *srv, tag_t *t, int success)
{
    call_t *c = t->call;
    switch (t->kind) {
    case TAG_S_RECV:
        if (success && !c->ended && !c->finishing) {
            if (c->recv == NULL) { /* the client half-closed */
                ap_stream_finish(c, GRPC_STATUS_OK, "");
            } else {
                ProtobufCMessage *m = unpack(c->sm->request, c->recv);
                grpc_byte_buffer_destroy(c->recv);
                c->recv = NULL;
                if (m == NULL) {
                    ap_stream_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "not a valid message");
                } else {
                    c->sm->on_message(c->sm->ctx ? c->sm->ctx : srv->opts.ctx, c, m);
                    protobuf_c_message_free_unpacked(m, NULL);
                    if (!c->ended && !c->finishing) stream_post_recv(c, 0);
                }
            }
        }
        break;
    case TAG_S_SEND:
        grpc_byte_buffer_destroy(c->sending);
        c->sending = NULL;
        if (success) stream_send_next(c);
        break;
    case TAG_S_STATUS:
        break;
    case TAG_S_CLOSE:
        c->ended = 1;
        if (c->prev)
            c->prev->next = c->next;
        else
            srv->streams = c->next;
        if (c->next) c->next->prev = c->prev;
        if (c->sm != NULL) c->sm->on_end(c->sm->ctx ? c->sm->ctx : srv->opts.ctx, c);
        break;
    default:
        break;
    }
    stream_release(c);
}

static void on_new_call(ap_server_t *srv, call_t *c)
{
    srv->live++;
    if (srv->accepting) post_slot(srv);
    size_t n = GRPC_SLICE_LENGTH(c->details.method);
    if (n >= sizeof(c->method)) n = sizeof(c->method) - 1;
    memcpy(c->method, GRPC_SLICE_START_PTR(c->details.method), n);
    c->method[n] = '\0';
    const ap_stream_method_t *sm = find_stream(srv, c->method);
    if (sm != NULL) {
        stream_open(srv, c, sm);
        return;
    }
    if (find_method(srv, c->method) == NULL) {
        ap_status_t st;
        ap_status_set(&st, GRPC_STATUS_UNIMPLEMENTED, "unknown method %s", c->method);
        finish(srv, c, NULL, &st, 1);
        return;
    }
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &c->recv;
    c->state = CALL_RECEIVING;
    if (grpc_call_start_batch(c->call, ops, 2, &c->tag, NULL) != GRPC_CALL_OK) {
        srv->live--;
        call_free(c);
    }
}

static grpc_server_credentials *server_creds(const ap_tls_t *tls, ap_status_t *st)
{
    if (!tls_on(tls)) return grpc_insecure_server_credentials_create();
    if (tls->cert_file == NULL || tls->key_file == NULL) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "TLS needs both a certificate and a key");
        return NULL;
    }
    char *cert = read_file(tls->cert_file, st), *key = cert ? read_file(tls->key_file, st) : NULL;
    char *ca = (key && tls->ca_file) ? read_file(tls->ca_file, st) : NULL;
    grpc_server_credentials *creds = NULL;
    if (key != NULL && (tls->ca_file == NULL || ca != NULL)) {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1,
            tls->require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                     : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
    }
    free(cert);
    free(key);
    free(ca);
    return creds;
}

ap_server_t *ap_server_new(const ap_server_opts_t *opts, ap_status_t *st)
{
    grpc_init();
    ap_server_t *srv = calloc(1, sizeof(*srv));
    srv->opts = *opts;
    int max = opts->max_recv_bytes > 0 ? opts->max_recv_bytes : 16 << 20;
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = max}},
        {GRPC_ARG_INTEGER,
         GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
         {.integer = 1000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}},
        /* a second server on a busy port must fail, not share its traffic */
        {GRPC_ARG_INTEGER, GRPC_ARG_ALLOW_REUSEPORT, {.integer = 0}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 2000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 2000}},
    };
    grpc_channel_args ca = {sizeof(args) / sizeof(args[0]), args};
    srv->server = grpc_server_create(&ca, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    grpc_server_credentials *creds = server_creds(&opts->tls, st);
    if (creds == NULL) goto fail;
    srv->port = grpc_server_add_http2_port(srv->server, opts->listen, creds);
    grpc_server_credentials_release(creds);
    if (srv->port <= 0) {
        ap_status_set(st, GRPC_STATUS_UNAVAILABLE, "cannot listen on %s (in use or bad address)",
                      opts->listen);
        goto fail;
    }
    grpc_server_start(srv->server);
    srv->accepting = 1;
    for (int i = 0; i < SLOTS; i++)
        post_slot(srv);
    return srv;
fail:
    ap_server_free(srv);
    return NULL;
}

int ap_server_port(const ap_server_t *srv)
{
    return srv->port;
}

void ap_server_run(ap_server_t *srv, volatile sig_atomic_t *stop, int grace_ms)
{
    int shutting = 0, shut_done = 0, cancelled = 0;
    gpr_timespec cancel_at = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    gpr_timespec next_tick = gpr_now(GPR_CLOCK_MONOTONIC);
    while (!shut_done || srv->live > 0 || srv->pending > 0) {
        gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
        if (*stop && !shutting) {
            shutting = 1;
            srv->accepting = 0;
            grpc_server_shutdown_and_notify(srv->server, srv->cq, &shutdown_tag);
            /* open streams never end by themselves: end them */
            for (call_t *c = srv->streams; c != NULL; c = c->next)
                ap_stream_finish(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
            cancel_at = gpr_time_add(now, gpr_time_from_millis(grace_ms, GPR_TIMESPAN));
        }
        if (shutting && !cancelled && gpr_time_cmp(now, cancel_at) > 0) {
            grpc_server_cancel_all_calls(srv->server);
            cancelled = 1;
        }
        if (srv->opts.tick != NULL && !shutting && gpr_time_cmp(now, next_tick) >= 0) {
            srv->opts.tick(srv->opts.ctx);
            next_tick = gpr_time_add(now, gpr_time_from_millis(100, GPR_TIMESPAN));
        }
        gpr_timespec wait = gpr_time_add(now, gpr_time_from_millis(50, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(srv->cq, wait, NULL);
        if (ev.type != GRPC_OP_COMPLETE) continue;
        tag_t *t = ev.tag;
        if (t == &shutdown_tag) {
            shut_done = 1;
            continue;
        }
        if (t->kind != TAG_CALL) {
            stream_event(srv, t, ev.success);
            continue;
        }
        call_t *c = t->call;
        switch (c->state) {
        case CALL_REQUESTED:
            srv->pending--;
            if (!ev.success) {
                call_free(c);
                continue;
            }
            on_new_call(srv, c);
            break;
        case CALL_RECEIVING:
            if (!ev.success) { /* the client went away */
                srv->live--;
                call_free(c);
                continue;
            }
            dispatch(srv, c);
            break;
        case CALL_FINISHING:
            srv->live--;
            call_free(c);
            break;
        }
    }
}

void ap_server_free(ap_server_t *srv)
{
    if (srv == NULL) return;
    grpc_server_destroy(srv->server);
    grpc_completion_queue_shutdown(srv->cq);
    while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(srv->cq);
    free(srv);
    grpc_shutdown();
}

/* ---- client ---- */

struct st_ap_channel_t {
    grpc_channel *channel;
    grpc_completion_queue *cq;
};

ap_channel_t *ap_channel_new(const char *target, const ap_tls_t *tls, ap_status_t *st)
{
    grpc_init();
    grpc_channel_credentials *creds;
    if (tls_on(tls)) {
        char *ca = tls->ca_file ? read_file(tls->ca_file, st) : NULL;
        char *cert = tls->cert_file ? read_file(tls->cert_file, st) : NULL;
        char *key = tls->key_file ? read_file(tls->key_file, st) : NULL;
        if ((tls->ca_file && !ca) || (tls->cert_file && !cert) || (tls->key_file && !key)) {
            free(ca), free(cert), free(key);
            grpc_shutdown();
            return NULL;
        }
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_credentials_create(ca, (cert && key) ? &pair : NULL, NULL, NULL);
        free(ca), free(cert), free(key);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    /* keepalives so a stream to a vanished server fails within seconds */
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 256 << 20}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 2000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 2000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, {.integer = 0}},
        {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 200}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = 2000}},
    };
    grpc_channel_args ca = {sizeof(args) / sizeof(args[0]), args};
    ap_channel_t *ch = calloc(1, sizeof(*ch));
    ch->channel = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    ch->cq = grpc_completion_queue_create_for_pluck(NULL);
    return ch;
}

void ap_channel_free(ap_channel_t *ch)
{
    if (ch == NULL) return;
    grpc_channel_destroy(ch->channel);
    grpc_completion_queue_shutdown(ch->cq);
    while (
        grpc_completion_queue_pluck(ch->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
        GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(ch->cq);
    free(ch);
    grpc_shutdown();
}

grpc_status_code ap_unary_call(ap_channel_t *ch, const char *method, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, const char *bearer,
                               int timeout_ms, ProtobufCMessage **resp, ap_status_t *st)
{
    *resp = NULL;
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice mslice = grpc_slice_from_static_string(method);
    grpc_call *call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, ch->cq,
                                               mslice, NULL, deadline, NULL);
    grpc_metadata md[1];
    memset(md, 0, sizeof(md));
    size_t nmd = 0;
    char *authval = NULL;
    if (bearer != NULL && *bearer != '\0') {
        gpr_asprintf(&authval, "Bearer %s", bearer);
        md[0].key = grpc_slice_from_static_string("authorization");
        md[0].value = grpc_slice_from_copied_string(authval);
        nmd = 1;
    }
    grpc_byte_buffer *send = pack(req), *recv = NULL;
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.error_string = &error_string;
    if (grpc_call_start_batch(call, ops, 6, call, NULL) == GRPC_CALL_OK)
        grpc_completion_queue_pluck(ch->cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    else
        code = GRPC_STATUS_INTERNAL;

    st->code = code;
    size_t dl = GRPC_SLICE_LENGTH(details);
    if (dl >= sizeof(st->message)) dl = sizeof(st->message) - 1;
    memcpy(st->message, GRPC_SLICE_START_PTR(details), dl);
    st->message[dl] = '\0';
    if (code == GRPC_STATUS_OK) {
        *resp = recv ? unpack(resp_desc, recv) : NULL;
        if (*resp == NULL)
            ap_status_set(st, GRPC_STATUS_INTERNAL, "the server's answer is not a valid %s",
                          resp_desc->name);
    } else if (code == GRPC_STATUS_UNAVAILABLE && dl == 0) {
        ap_status_set(st, code, "cannot reach the server");
    }
    if (recv != NULL) grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    if (nmd) grpc_slice_unref(md[0].value);
    gpr_free(authval);
    grpc_call_unref(call);
    return st->code;
}

/* ---- client streams ---- */

struct st_ap_client_stream_t {
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_metadata md;
    int has_md;
    char *authval;
    /* the status batch, posted first, completes when the call ends */
    char t_status, t_op, t_recv;
    grpc_status_code code;
    grpc_slice details;
    grpc_metadata_array trail;
    int status_done;
    grpc_byte_buffer *recv;
    int recv_pending;
    grpc_metadata_array initial; /* the server's, read with the first message */
    int got_initial;
};

static int cs_wait(ap_client_stream_t *cs, void *tag, int timeout_ms)
{
    gpr_timespec d = timeout_ms < 0 ? gpr_inf_future(GPR_CLOCK_REALTIME)
                                    : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                   gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_pluck(cs->cq, tag, d, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) return 0;
    return ev.success ? 1 : -1;
}

static void cs_final_status(ap_client_stream_t *cs, ap_status_t *st)
{
    if (!cs->status_done) {
        grpc_call_cancel(cs->call, NULL);
        cs_wait(cs, &cs->t_status, -1);
        cs->status_done = 1;
    }
    st->code = cs->code;
    size_t dl = GRPC_SLICE_LENGTH(cs->details);
    if (dl >= sizeof(st->message)) dl = sizeof(st->message) - 1;
    memcpy(st->message, GRPC_SLICE_START_PTR(cs->details), dl);
    st->message[dl] = '\0';
    if (st->code == GRPC_STATUS_OK)
        ap_status_set(st, GRPC_STATUS_UNAVAILABLE, "the server ended the stream");
}

ap_client_stream_t *ap_client_stream_open(ap_channel_t *ch, const char *method, const char *bearer,
                                          int timeout_ms, ap_status_t *st)
{
    ap_client_stream_t *cs = calloc(1, sizeof(*cs));
    cs->cq = grpc_completion_queue_create_for_pluck(NULL);
    cs->details = grpc_empty_slice();
    grpc_metadata_array_init(&cs->trail);
    grpc_metadata_array_init(&cs->initial);
    cs->call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cs->cq,
                                        grpc_slice_from_static_string(method), NULL,
                                        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (bearer != NULL && *bearer != '\0') {
        gpr_asprintf(&cs->authval, "Bearer %s", bearer);
        cs->md.key = grpc_slice_from_static_string("authorization");
        cs->md.value = grpc_slice_from_copied_string(cs->authval);
        cs->has_md = 1;
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.status = &cs->code;
    op.data.recv_status_on_client.status_details = &cs->details;
    op.data.recv_status_on_client.trailing_metadata = &cs->trail;
    grpc_call_start_batch(cs->call, &op, 1, &cs->t_status, NULL);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = cs->has_md;
    ops[0].data.send_initial_metadata.metadata = &cs->md;
    if (grpc_call_start_batch(cs->call, ops, 1, &cs->t_op, NULL) != GRPC_CALL_OK ||
        cs_wait(cs, &cs->t_op, timeout_ms) != 1) {
        ap_status_set(st, GRPC_STATUS_UNAVAILABLE, "cannot open the stream");
        ap_client_stream_close(cs);
        return NULL;
    }
    return cs;
}

int ap_client_stream_send(ap_client_stream_t *cs, const ProtobufCMessage *m, ap_status_t *st)
{
    grpc_byte_buffer *bb = pack(m);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    int ok = grpc_call_start_batch(cs->call, &op, 1, &cs->t_op, NULL) == GRPC_CALL_OK &&
             cs_wait(cs, &cs->t_op, -1) == 1;
    grpc_byte_buffer_destroy(bb);
    if (!ok) {
        cs_final_status(cs, st);
        return -1;
    }
    return 0;
}

int ap_client_stream_recv(ap_client_stream_t *cs, const ProtobufCMessageDescriptor *d,
                          ProtobufCMessage **out, int timeout_ms, ap_status_t *st)
{
    *out = NULL;
    if (!cs->recv_pending) {
        /* messages arrive only after the server's initial metadata is read */
        grpc_op ops[2];
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        if (!cs->got_initial) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata = &cs->initial;
            cs->got_initial = 1;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &cs->recv;
        if (grpc_call_start_batch(cs->call, ops, n, &cs->t_recv, NULL) != GRPC_CALL_OK) {
            cs_final_status(cs, st);
            return -1;
        }
        cs->recv_pending = 1;
    }
    int r = cs_wait(cs, &cs->t_recv, timeout_ms);
    if (r == 0) return 0;
    cs->recv_pending = 0;
    if (r < 0 || cs->recv == NULL) {
        cs_final_status(cs, st);
        return -1;
    }
    *out = unpack(d, cs->recv);
    grpc_byte_buffer_destroy(cs->recv);
    cs->recv = NULL;
    if (*out == NULL) {
        ap_status_set(st, GRPC_STATUS_INTERNAL, "the server sent a message that is not a %s",
                      d->name);
        return -1;
    }
    return 1;
}

void ap_client_stream_close(ap_client_stream_t *cs)
{
    if (cs == NULL) return;
    grpc_call_cancel(cs->call, NULL);
    if (cs->recv_pending) cs_wait(cs, &cs->t_recv, -1);
    if (!cs->status_done) cs_wait(cs, &cs->t_status, -1);
    if (cs->recv != NULL) grpc_byte_buffer_destroy(cs->recv);
    grpc_call_unref(cs->call);
    grpc_completion_queue_shutdown(cs->cq);
    while (
        grpc_completion_queue_pluck(cs->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
        GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cs->cq);
    grpc_slice_unref(cs->details);
    grpc_metadata_array_destroy(&cs->trail);
    grpc_metadata_array_destroy(&cs->initial);
    if (cs->has_md) grpc_slice_unref(cs->md.value);
    gpr_free(cs->authval);
    free(cs);
}
