/* Config sync, data-plane side (see sync.h). The thread owns `state`, the
 * node's copy of the whole configuration as a Snapshot message: a delta is
 * applied to a copy of it, the copy is compiled, and only when that works
 * does it replace the state, get served and get written to the cache.
 *
 * Cache file: "APDPSNP1" | revision (u64 BE) | length (u64 BE) |
 * SHA-256 of the payload (32 bytes) | packed Snapshot. */
#include "sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ap_clock.h"
#include "ap_log.h"
#include "ap_msg.h"
#include "config.h"
#include "quota.h"

#define BUILD_VERSION "apiplatform-dp/0.1"
#define MAGIC "APDPSNP1"
#define HEADER_LEN (8 + 8 + 8 + 32)

static struct {
    dp_sync_opts_t o;
    char *labels_buf;
    pthread_t thread;
    int started;
    atomic_int stop;
    atomic_int connected;
    atomic_uint_least64_t revision;
    atomic_uint node_count;           /* nodes sharing rate limits, as last told */
    Apiplatform__V1__Snapshot *state; /* sync thread only (and start-up) */
} S;

static const char *const KIND_FIELDS[][2] = {
    {"collection", "collections"}, {"endpoint", "endpoints"}, {"client", "clients"},
    {"profile", "profiles"},       {"policy", "policies"},    {"token", "tokens"},
};

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

static void sha256(const void *d, size_t n, uint8_t *out)
{
    unsigned len;
    EVP_Digest(d, n, out, &len, EVP_sha256(), NULL);
}

/* ---- the cache ---- */

static int cache_write(const Apiplatform__V1__Snapshot *snap, uint64_t rev, char *err, size_t el)
{
    size_t n = protobuf_c_message_get_packed_size(&snap->base);
    uint8_t *buf = malloc(HEADER_LEN + n);
    memcpy(buf, MAGIC, 8);
    put_u64(buf + 8, rev);
    put_u64(buf + 16, n);
    protobuf_c_message_pack(&snap->base, buf + HEADER_LEN);
    sha256(buf + HEADER_LEN, n, buf + 24);
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", S.o.cache_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc = -1;
    if (fd >= 0 && write(fd, buf, HEADER_LEN + n) == (ssize_t)(HEADER_LEN + n) && fsync(fd) == 0 &&
        close(fd) == 0) {
        fd = -1;
        rc = rename(tmp, S.o.cache_path);
    }
    if (rc != 0) snprintf(err, el, "%.300s: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    free(buf);
    return rc;
}

/* Reads and checks the cache; NULL with a reason (err[0] == 0: no file). */
static Apiplatform__V1__Snapshot *cache_read(uint64_t *rev, char *err, size_t el)
{
    err[0] = '\0';
    FILE *f = fopen(S.o.cache_path, "rb");
    if (f == NULL) {
        if (errno != ENOENT) snprintf(err, el, "cannot open: %s", strerror(errno));
        return NULL;
    }
    uint8_t h[HEADER_LEN], sum[32];
    Apiplatform__V1__Snapshot *snap = NULL;
    uint8_t *buf = NULL;
    if (fread(h, 1, HEADER_LEN, f) != HEADER_LEN || memcmp(h, MAGIC, 8) != 0) {
        snprintf(err, el, "not a snapshot cache (bad header)");
        goto out;
    }
    uint64_t n = get_u64(h + 16);
    if (n > (1ull << 31)) {
        snprintf(err, el, "implausible length %" PRIu64, n);
        goto out;
    }
    buf = malloc(n ? n : 1);
    if (fread(buf, 1, n, f) != n || fgetc(f) != EOF) {
        snprintf(err, el, "truncated or trailing bytes");
        goto out;
    }
    sha256(buf, n, sum);
    if (memcmp(sum, h + 24, 32) != 0) {
        snprintf(err, el, "checksum mismatch");
        goto out;
    }
    snap = apiplatform__v1__snapshot__unpack(NULL, n, buf);
    if (snap == NULL) snprintf(err, el, "payload does not decode");
    *rev = get_u64(h + 8);
out:
    free(buf);
    fclose(f);
    return snap;
}

/* ---- applying updates ---- */

/* The repeated message field `field` of snap. */
static ProtobufCMessage ***items(Apiplatform__V1__Snapshot *snap, const char *field, size_t **n)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(snap->base.descriptor, field);
    *n = (size_t *)((char *)snap + fd->quantifier_offset);
    return (ProtobufCMessage ***)((char *)snap + fd->offset);
}

static void upsert(Apiplatform__V1__Snapshot *snap, const char *field, const ProtobufCMessage *m)
{
    size_t *n;
    ProtobufCMessage ***arr = items(snap, field, &n);
    const char *id = ap_msg_get_str(m, "id");
    for (size_t i = 0; i < *n; i++)
        if (strcmp(ap_msg_get_str((*arr)[i], "id"), id) == 0) {
            ap_msg_free((*arr)[i]);
            (*arr)[i] = ap_msg_dup(m);
            return;
        }
    *arr = realloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = ap_msg_dup(m);
}

static int remove_item(Apiplatform__V1__Snapshot *snap, const char *kind, const char *id)
{
    for (size_t k = 0; k < sizeof(KIND_FIELDS) / sizeof(KIND_FIELDS[0]); k++) {
        if (strcmp(KIND_FIELDS[k][0], kind) != 0) continue;
        size_t *n;
        ProtobufCMessage ***arr = items(snap, KIND_FIELDS[k][1], &n);
        for (size_t i = 0; i < *n; i++)
            if (strcmp(ap_msg_get_str((*arr)[i], "id"), id) == 0) {
                ap_msg_free((*arr)[i]);
                memmove(*arr + i, *arr + i + 1, (*n - i - 1) * sizeof(**arr));
                (*n)--;
                return 0;
            }
        return 0; /* already gone: removing is idempotent */
    }
    return -1;
}

/* The configuration an update leads to, or NULL with a reason. */
static Apiplatform__V1__Snapshot *apply(const Apiplatform__V1__SyncResponse *r, uint64_t held,
                                        char *err, size_t el)
{
    if (r->update_case == APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_SNAPSHOT && r->snapshot)
        return (Apiplatform__V1__Snapshot *)ap_msg_dup(&r->snapshot->base);
    if (r->update_case != APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_DELTA || r->delta == NULL) {
        snprintf(err, el, "update carries neither a snapshot nor a delta");
        return NULL;
    }
    const Apiplatform__V1__Delta *d = r->delta;
    if (S.state == NULL || d->from_revision != held) {
        snprintf(err, el, "delta from revision %" PRIu64 " but this node holds %" PRIu64,
                 d->from_revision, held);
        return NULL;
    }
    Apiplatform__V1__Snapshot *next = (Apiplatform__V1__Snapshot *)ap_msg_dup(&S.state->base);
    if (d->upserts != NULL) {
        if (d->upserts->settings != NULL) {
            if (next->settings) ap_msg_free(&next->settings->base);
            next->settings = (Apiplatform__V1__Settings *)ap_msg_dup(&d->upserts->settings->base);
        }
        for (size_t k = 0; k < sizeof(KIND_FIELDS) / sizeof(KIND_FIELDS[0]); k++) {
            size_t *n;
            ProtobufCMessage ***arr = items(d->upserts, KIND_FIELDS[k][1], &n);
            for (size_t i = 0; i < *n; i++)
                upsert(next, KIND_FIELDS[k][1], (*arr)[i]);
        }
    }
    for (size_t i = 0; i < d->n_removals; i++)
        if (remove_item(next, d->removals[i]->kind, d->removals[i]->id) != 0) {
            snprintf(err, el, "removal of unknown kind \"%s\"", d->removals[i]->kind);
            ap_msg_free(&next->base);
            return NULL;
        }
    return next;
}

/* Compiles and serves snap at rev; takes snap over. 0, or -1 with err. */
static int install(Apiplatform__V1__Snapshot *snap, uint64_t rev, int persist, char *err, size_t el)
{
    dp_config_t *c = dp_config_compile(snap, rev, err, el);
    if (c == NULL) {
        ap_msg_free(&snap->base);
        return -1;
    }
    dp_current_set(c);
    if (S.state) ap_msg_free(&S.state->base);
    S.state = snap;
    atomic_store(&S.revision, rev);
    char cerr[512];
    if (persist && S.o.cache_path != NULL && cache_write(snap, rev, cerr, sizeof(cerr)) != 0)
        ap_log(AP_LOG_WARN, "cache_write_failed", "error=\"%s\"", cerr);
    return 0;
}

/* ---- the stream ---- */

static void hello(Apiplatform__V1__SyncRequest *req, Apiplatform__V1__NodeHello *h,
                  Apiplatform__V1__Label **lp, size_t nl)
{
    apiplatform__v1__sync_request__init(req);
    apiplatform__v1__node_hello__init(h);
    h->node_id = (char *)S.o.node_id;
    h->build_version = BUILD_VERSION;
    h->revision = atomic_load(&S.revision);
    h->n_labels = nl;
    h->labels = lp;
    req->message_case = APIPLATFORM__V1__SYNC_REQUEST__MESSAGE_HELLO;
    req->hello = h;
}

/* Sends a UsageReport when one is due: quota lease use and requests (at
 * once when a request waits or a lease runs low, else every second while
 * leases are held), usage counters every second. release: the final report
 * that gives every lease back. 0, or -1 when the stream is broken. */
static int maybe_report(ap_client_stream_t *cs, int release, ap_status_t *st)
{
    static double last_drain;
    static uint64_t seq;
    double now = ap_mono_s();
    int quota = release || dp_quota_report_due();
    int drain = S.o.drain_usage != NULL && (release || now - last_drain >= 1.0);
    if (!quota && !drain) return 0;
    Apiplatform__V1__UsageReport *r =
        (Apiplatform__V1__UsageReport *)ap_msg_new(&apiplatform__v1__usage_report__descriptor);
    if (drain) {
        S.o.drain_usage(r);
        last_drain = now;
    }
    if (quota) dp_quota_fill_report(r, release);
    int rc = 0;
    if (r->n_counters + r->n_leases + r->n_requests > 0) {
        r->seq = ++seq;
        Apiplatform__V1__SyncRequest req = APIPLATFORM__V1__SYNC_REQUEST__INIT;
        req.message_case = APIPLATFORM__V1__SYNC_REQUEST__MESSAGE_REPORT;
        req.report = r;
        rc = ap_client_stream_send(cs, &req.base, st);
    }
    ap_msg_free(&r->base);
    return rc;
}

/* Runs one stream until it breaks or stop is asked; returns after any
 * update was handled (so backoff starts over) as 1, else 0. */
static int run_stream(ap_channel_t *ch, Apiplatform__V1__Label **lp, size_t nl)
{
    ap_status_t st;
    ap_client_stream_t *cs =
        ap_client_stream_open(ch, "/apiplatform.v1.Sync/Stream", S.o.node_token, 3000, &st);
    if (cs == NULL) return 0;
    Apiplatform__V1__SyncRequest req;
    Apiplatform__V1__NodeHello h;
    hello(&req, &h, lp, nl);
    int progressed = 0;
    if (ap_client_stream_send(cs, &req.base, &st) != 0) goto out;
    dp_quota_set_connected(1);
    int broken = 0;
    while (!atomic_load(&S.stop)) {
        if (maybe_report(cs, 0, &st) != 0) {
            broken = 1;
            break;
        }
        ProtobufCMessage *m;
        /* short waits: lease requests of waiting callers go out within ~5 ms */
        int r = ap_client_stream_recv(cs, &apiplatform__v1__sync_response__descriptor, &m, 5, &st);
        if (r == 0) continue;
        if (r < 0) {
            broken = 1;
            break;
        }
        atomic_store(&S.connected, 1);
        progressed = 1;
        Apiplatform__V1__SyncResponse *u = (Apiplatform__V1__SyncResponse *)m;
        if (u->report_ack != NULL) dp_quota_apply_ack(u->report_ack);
        if (u->update_case == APIPLATFORM__V1__SYNC_RESPONSE__UPDATE__NOT_SET) {
            /* only an answer to a report: not an update, not acknowledged */
            protobuf_c_message_free_unpacked(m, NULL);
            continue;
        }
        char err[512] = "";
        uint64_t held = atomic_load(&S.revision);
        Apiplatform__V1__Snapshot *next = apply(u, held, err, sizeof(err));
        int ok = next != NULL && install(next, u->revision, 1, err, sizeof(err)) == 0;
        if (ok && u->node_count > 0) atomic_store(&S.node_count, u->node_count);
        Apiplatform__V1__SyncRequest ans = APIPLATFORM__V1__SYNC_REQUEST__INIT;
        Apiplatform__V1__Ack ack = APIPLATFORM__V1__ACK__INIT;
        Apiplatform__V1__Nack nack = APIPLATFORM__V1__NACK__INIT;
        if (ok) {
            ack.revision = u->revision;
            ack.nonce = u->nonce;
            ans.message_case = APIPLATFORM__V1__SYNC_REQUEST__MESSAGE_ACK;
            ans.ack = &ack;
            ap_log(AP_LOG_INFO, "config_applied", "revision=%" PRIu64 " kind=%s", u->revision,
                   u->update_case == APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_DELTA ? "delta"
                                                                                  : "snapshot");
        } else {
            nack.revision = u->revision;
            nack.nonce = u->nonce;
            nack.error = err;
            ans.message_case = APIPLATFORM__V1__SYNC_REQUEST__MESSAGE_NACK;
            ans.nack = &nack;
            char q[600];
            ap_log(AP_LOG_WARN, "config_refused", "revision=%" PRIu64 " held=%" PRIu64 " error=%s",
                   u->revision, held, ap_log_quote(err, q, sizeof(q)));
        }
        int sent = ap_client_stream_send(cs, &ans.base, &st);
        protobuf_c_message_free_unpacked(m, NULL);
        if (sent != 0) {
            broken = 1;
            break;
        }
    }
    /* stopping: give the leases back and send the last counters */
    if (!broken && atomic_load(&S.stop) && maybe_report(cs, 1, &st) == 0) {
        /* wait (briefly) for the answer, so the release is not cancelled in
         * flight when the stream closes */
        for (int i = 0; i < 100; i++) {
            ProtobufCMessage *m;
            int r =
                ap_client_stream_recv(cs, &apiplatform__v1__sync_response__descriptor, &m, 10, &st);
            if (r < 0) break;
            if (r == 0) continue;
            int answered = ((Apiplatform__V1__SyncResponse *)m)->report_ack != NULL;
            protobuf_c_message_free_unpacked(m, NULL);
            if (answered) break;
        }
    }
out:
    dp_quota_set_connected(0);
    if (!atomic_load(&S.stop)) {
        char q[600];
        ap_log(AP_LOG_WARN, "cp_disconnected", "code=%s error=%s", ap_status_name(st.code),
               ap_log_quote(st.message, q, sizeof(q)));
    }
    atomic_store(&S.connected, 0);
    ap_client_stream_close(cs);
    return progressed;
}

/* Sleeps ms unless stop is asked. */
static void nap(int ms)
{
    for (; ms > 0 && !atomic_load(&S.stop); ms -= 50)
        usleep((useconds_t)(ms < 50 ? ms : 50) * 1000);
}

static void *sync_main(void *arg)
{
    /* labels "k=v,k=v" */
    size_t nl = 0;
    Apiplatform__V1__Label labels[32], *lp[32];
    for (char *save = NULL, *kv = S.labels_buf ? strtok_r(S.labels_buf, ",", &save) : NULL;
         kv != NULL && nl < 32; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        apiplatform__v1__label__init(&labels[nl]);
        labels[nl].key = kv;
        labels[nl].value = eq ? (*eq = '\0', eq + 1) : "";
        lp[nl] = &labels[nl];
        nl++;
    }
    ap_status_t st;
    ap_channel_t *ch = ap_channel_new(S.o.cp_addr, &S.o.tls, &st);
    if (ch == NULL) {
        ap_log(AP_LOG_ERROR, "cp_channel_failed", "error=\"%s\"", st.message);
        return NULL;
    }
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    int backoff = 100;
    while (!atomic_load(&S.stop)) {
        if (run_stream(ch, lp, nl)) backoff = 100;
        if (atomic_load(&S.stop)) break;
        /* jittered exponential backoff: half to full of the current step */
        int wait = backoff / 2 + (int)(rand_r(&seed) % (unsigned)(backoff / 2 + 1));
        nap(wait);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    ap_channel_free(ch);
    return NULL;
}

int dp_sync_start(const dp_sync_opts_t *o, char *err, size_t errlen)
{
    S.o = *o;
    S.labels_buf = o->labels ? strdup(o->labels) : NULL;
    if (o->cache_path != NULL) {
        uint64_t rev = 0;
        char why[512];
        Apiplatform__V1__Snapshot *snap = cache_read(&rev, why, sizeof(why));
        if (snap != NULL && install(snap, rev, 0, why, sizeof(why)) == 0) {
            ap_log(AP_LOG_INFO, "cache_loaded", "path=%s revision=%" PRIu64, o->cache_path, rev);
        } else if (why[0] != '\0') {
            char q[600];
            ap_log(AP_LOG_ERROR, "cache_corrupt", "path=%s error=%s (not used)", o->cache_path,
                   ap_log_quote(why, q, sizeof(q)));
        }
    }
    if (pthread_create(&S.thread, NULL, sync_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the sync thread");
        return -1;
    }
    S.started = 1;
    return 0;
}

void dp_sync_stop(void)
{
    if (!S.started) return;
    atomic_store(&S.stop, 1);
    pthread_join(S.thread, NULL);
    S.started = 0;
    if (S.state) ap_msg_free(&S.state->base);
    S.state = NULL;
    free(S.labels_buf);
}

int dp_sync_connected(void)
{
    return atomic_load(&S.connected);
}

unsigned dp_sync_node_count(void)
{
    unsigned n = atomic_load(&S.node_count);
    return n > 0 ? n : 1;
}

uint64_t dp_sync_revision(void)
{
    return atomic_load(&S.revision);
}
