/* gRPC plumbing on gRPC C core, written once for every part: a completion-
 * queue driven server that dispatches unary methods from a table (protobuf-c
 * messages in and out), a unary client over a channel, and TLS / mTLS
 * credentials taken from flags. gRPC C core has no code generator: messages
 * travel as raw byte buffers packed and unpacked with protobuf-c. */
#ifndef AP_RPC_H
#define AP_RPC_H

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <protobuf-c/protobuf-c.h>
#include <signal.h>
#include <stddef.h>

/* TLS material, all from files. No cert and no CA = plaintext (loopback and
 * tests only). Server: cert+key, and ca to verify client certificates when
 * require_client_cert. Client: ca to verify the server, cert+key to present
 * one (mTLS). */
typedef struct st_ap_tls_t {
    const char *cert_file;
    const char *key_file;
    const char *ca_file;
    /* server only: refuse clients without a certificate signed by ca_file */
    int require_client_cert;
} ap_tls_t;

/* The outcome of a call: a gRPC status code and a message for people. */
typedef struct st_ap_status_t {
    grpc_status_code code;
    char message[512];
} ap_status_t;

/* Sets code and a printf-style message; returns code. */
grpc_status_code ap_status_set(ap_status_t *st, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Puts a printf-style prefix and ": " before st's message (the field an
 * inner error concerns: "profile.policy_id: collection \"x\" not found"). */
void ap_status_prefix(ap_status_t *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "INVALID_ARGUMENT" for GRPC_STATUS_INVALID_ARGUMENT, etc. */
const char *ap_status_name(grpc_status_code code);

/* ---- server ---- */

/* What a handler knows about the call it serves. */
typedef struct st_ap_call_info_t {
    /* "/apiplatform.v1.Admin/CreateCollection" */
    const char *method;
    /* the `authorization` metadata value (NUL-terminated copy), or NULL */
    const char *authorization;
    /* the peer address as gRPC prints it ("ipv4:127.0.0.1:5555") */
    const char *peer;
    /* the common name of a verified client certificate, or NULL */
    const char *peer_cn;
    /* when the client stops waiting */
    gpr_timespec deadline;
} ap_call_info_t;

/* A unary handler: returns a response message made with malloc throughout
 * (freed by the server with protobuf_c_message_free_unpacked), or NULL after
 * setting st. */
typedef ProtobufCMessage *(*ap_unary_fn)(void *ctx, const ap_call_info_t *ci,
                                         const ProtobufCMessage *req, ap_status_t *st);

/* One row of a service's method table. */
typedef struct st_ap_method_t {
    /* full method path */
    const char *path;
    /* type of the request message */
    const ProtobufCMessageDescriptor *request;
    ap_unary_fn fn;
} ap_method_t;

/* A server-side bidirectional stream. Everything about it happens on the
 * server's queue thread: callbacks run there, and ap_stream_send/finish must
 * be called from there (from any callback, or from the tick). */
typedef struct st_ap_stream_t ap_stream_t;

typedef struct st_ap_stream_method_t {
    /* full method path */
    const char *path;
    /* type of the messages the client sends */
    const ProtobufCMessageDescriptor *request;
    /* a new stream: authenticate (ci->authorization, ci->peer_cn) and return 0
     * to accept, or set st and return -1 to refuse */
    int (*on_open)(void *ctx, ap_stream_t *s, const ap_call_info_t *ci, ap_status_t *st);
    /* one message from the client */
    void (*on_message)(void *ctx, ap_stream_t *s, const ProtobufCMessage *m);
    /* the stream is over (finished, cancelled, peer gone); s is invalid after */
    void (*on_end)(void *ctx, ap_stream_t *s);
    /* passed to the callbacks instead of the server's ctx when non-NULL */
    void *ctx;
} ap_stream_method_t;

/* Queues a message to the client; 0, or -1 if the stream is finishing. */
int ap_stream_send(ap_stream_t *s, const ProtobufCMessage *m);
/* Ends the stream with a status once queued messages are sent. */
void ap_stream_finish(ap_stream_t *s, grpc_status_code code, const char *message);
/* Messages queued and not yet handed to the transport (back-pressure). */
size_t ap_stream_queued(const ap_stream_t *s);
/* What on_open saw (valid until on_end). */
const ap_call_info_t *ap_stream_info(const ap_stream_t *s);
void ap_stream_set_data(ap_stream_t *s, void *data);
void *ap_stream_data(const ap_stream_t *s);

/* Called before every handler; return 0 to let the call through, or set st
 * (UNAUTHENTICATED, PERMISSION_DENIED) and return -1. */
typedef int (*ap_auth_fn)(void *ctx, const ap_call_info_t *ci, ap_status_t *st);

/* Called after every call with its outcome and how long the handler took
 * (for access logs and metrics). */
typedef void (*ap_done_fn)(void *ctx, const ap_call_info_t *ci, const ap_status_t *st,
                           double handler_ms);

typedef struct st_ap_server_opts_t {
    /* "127.0.0.1:7400"; port 0 picks a free port (see ap_server_port) */
    const char *listen;
    ap_tls_t tls;
    /* largest request accepted, bytes (0 = 16 MiB) */
    int max_recv_bytes;
    const ap_method_t *methods;
    size_t n_methods;
    const ap_stream_method_t *streams;
    size_t n_streams;
    /* called on the queue thread about every 100 ms (may be NULL) */
    void (*tick)(void *ctx);
    ap_auth_fn auth;
    /* may be NULL */
    ap_done_fn done;
    /* passed to auth, done and every handler */
    void *ctx;
} ap_server_opts_t;

typedef struct st_ap_server_t ap_server_t;

/* Creates and starts listening. NULL with st set on failure. */
ap_server_t *ap_server_new(const ap_server_opts_t *opts, ap_status_t *st);
/* The bound port. */
int ap_server_port(const ap_server_t *srv);
/* Serves until *stop becomes non-zero, then shuts down gracefully: stops
 * accepting calls, finishes the ones in flight (cancelling what is left after
 * grace_ms), and returns. */
void ap_server_run(ap_server_t *srv, volatile sig_atomic_t *stop, int grace_ms);
void ap_server_free(ap_server_t *srv);

/* ---- client ---- */

typedef struct st_ap_channel_t ap_channel_t;

/* A channel to `target` ("127.0.0.1:7400", "host:port"). Plaintext when tls
 * is NULL or names no files. NULL with st set on failure (unreadable files). */
ap_channel_t *ap_channel_new(const char *target, const ap_tls_t *tls, ap_status_t *st);
void ap_channel_free(ap_channel_t *ch);

/* One unary call. `bearer` (may be NULL) is sent as "authorization: Bearer
 * <bearer>". On success *resp is an unpacked message of resp_desc (free with
 * protobuf_c_message_free_unpacked). Returns the status code (GRPC_STATUS_OK
 * = 0) and fills st. */
grpc_status_code ap_unary_call(ap_channel_t *ch, const char *method, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, const char *bearer,
                               int timeout_ms, ProtobufCMessage **resp, ap_status_t *st);

/* A client-side bidirectional stream, used from one thread with blocking
 * calls (the data plane's sync thread). */
typedef struct st_ap_client_stream_t ap_client_stream_t;

/* Opens a stream; NULL with st set when the server cannot be reached in
 * timeout_ms. */
ap_client_stream_t *ap_client_stream_open(ap_channel_t *ch, const char *method, const char *bearer,
                                          int timeout_ms, ap_status_t *st);
/* Sends one message; 0, or -1 with st set when the stream is broken. */
int ap_client_stream_send(ap_client_stream_t *cs, const ProtobufCMessage *m, ap_status_t *st);
/* Waits up to timeout_ms for a message: 1 with *out set (free with
 * protobuf_c_message_free_unpacked), 0 on timeout (call again), -1 when the
 * stream has ended (st = the server's final status). */
int ap_client_stream_recv(ap_client_stream_t *cs, const ProtobufCMessageDescriptor *d,
                          ProtobufCMessage **out, int timeout_ms, ap_status_t *st);
/* Cancels the stream if still open and frees it. */
void ap_client_stream_close(ap_client_stream_t *cs);

#endif
