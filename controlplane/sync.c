/* Sync service (see sync.h). Nodes are kept by id for as long as the control
 * plane runs, connected or not, so `apictl nodes` can show a node that went
 * away and what it held.
 *
 * Test hook (--test-hooks only): an endpoint whose description is
 * "__test_refuse__" is shipped with a collection id no snapshot has, an
 * update a real control plane never sends, so tests can watch a node refuse
 * it and keep serving. */
#include "sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_clock.h"
#include "ap_log.h"
#include "ap_msg.h"
#include "ap_token.h"
#include "quota.h"
#include "resource.h"
#include "usage.h"

typedef struct st_cp_node_t {
    Apiplatform__V1__NodeStatus *st; /* what ListNodes shows */
    ap_stream_t *stream;             /* NULL when disconnected */
    char nonce[32];                  /* of the update in flight */
    uint32_t sent_nodes;             /* node_count in the last update sent */
    int needs_first;                 /* hello seen, nothing sent yet */
    struct st_cp_node_t *next;
} cp_node_t;

struct st_cp_sync_t {
    cp_store_t *store;
    char node_hash[65];
    char node_cn[256];
    int test_hooks;
    cp_node_t *nodes;
    uint64_t nonce_seq;
    cp_quota_t *quota;
};

/* kind name -> the Snapshot field that carries it */
static const struct {
    const char *kind;
    const char *field;
} SNAP_FIELDS[] = {
    {"collection", "collections"}, {"endpoint", "endpoints"}, {"client", "clients"},
    {"profile", "profiles"},       {"policy", "policies"},    {"token", "tokens"},
};

static const cp_kind_t *kind_by_name(const char *name)
{
    for (const cp_kind_t *const *k = cp_kinds; *k; k++)
        if (strcmp((*k)->name, name) == 0) return *k;
    return NULL;
}

static const char *snap_field(const char *kind)
{
    for (size_t i = 0; i < sizeof(SNAP_FIELDS) / sizeof(SNAP_FIELDS[0]); i++)
        if (strcmp(SNAP_FIELDS[i].kind, kind) == 0) return SNAP_FIELDS[i].field;
    return NULL;
}

/* Appends m (taken over) to the repeated message field `field` of snap. */
static void snap_add(Apiplatform__V1__Snapshot *snap, const char *field, ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(snap->base.descriptor, field);
    size_t *n = (size_t *)((char *)snap + fd->quantifier_offset);
    ProtobufCMessage ***arr = (ProtobufCMessage ***)((char *)snap + fd->offset);
    *arr = realloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = m;
}

static void add_each(void *ctx, ProtobufCMessage *m)
{
    void **a = ctx;
    snap_add(a[0], a[1], ap_msg_dup(m));
}

static ProtobufCMessage *load_settings(cp_store_t *store)
{
    return cp_store_get_msg(store, "r/settings/settings", &apiplatform__v1__settings__descriptor);
}

static Apiplatform__V1__Snapshot *full_snapshot(cp_store_t *store)
{
    Apiplatform__V1__Snapshot *snap =
        (Apiplatform__V1__Snapshot *)ap_msg_new(&apiplatform__v1__snapshot__descriptor);
    snap->settings = (Apiplatform__V1__Settings *)load_settings(store);
    for (size_t i = 0; i < sizeof(SNAP_FIELDS) / sizeof(SNAP_FIELDS[0]); i++) {
        void *a[2] = {snap, (void *)SNAP_FIELDS[i].field};
        cp_res_each(store, kind_by_name(SNAP_FIELDS[i].kind), add_each, a);
    }
    return snap;
}

typedef struct {
    Apiplatform__V1__Change **seen; /* last change per (kind, id), in order */
    size_t n;
    uint64_t expect; /* the next revision the log must hold */
    int gap;
} log_scan_t;

static int on_changeset(void *ctx, const char *key, size_t kl, const char *val, size_t vl)
{
    log_scan_t *ls = ctx;
    Apiplatform__V1__ChangeSet *cs =
        apiplatform__v1__change_set__unpack(NULL, vl, (const uint8_t *)val);
    if (cs == NULL || cs->revision != ls->expect) {
        ls->gap = 1;
        if (cs) apiplatform__v1__change_set__free_unpacked(cs, NULL);
        return 1;
    }
    ls->expect++;
    for (size_t i = 0; i < cs->n_changes; i++) {
        Apiplatform__V1__Change *c = cs->changes[i];
        size_t j;
        for (j = 0; j < ls->n; j++)
            if (!strcmp(ls->seen[j]->kind, c->kind) && !strcmp(ls->seen[j]->id, c->id)) break;
        if (j == ls->n) {
            ls->seen = realloc(ls->seen, (ls->n + 1) * sizeof(*ls->seen));
            ls->seen[ls->n++] = (Apiplatform__V1__Change *)ap_msg_dup(&c->base);
        }
    }
    apiplatform__v1__change_set__free_unpacked(cs, NULL);
    return 0;
}

/* A delta from `from` to now, or NULL when the change log cannot give one. */
static Apiplatform__V1__Delta *delta_since(cp_store_t *store, uint64_t from, uint64_t to)
{
    char start[40];
    snprintf(start, sizeof(start), "l/%016" PRIx64, from);
    log_scan_t ls = {NULL, 0, from + 1, 0};
    cp_store_scan(store, "l/", start, on_changeset, &ls);
    Apiplatform__V1__Delta *d = NULL;
    if (!ls.gap && ls.expect == to + 1) {
        d = (Apiplatform__V1__Delta *)ap_msg_new(&apiplatform__v1__delta__descriptor);
        d->from_revision = from;
        d->upserts =
            (Apiplatform__V1__Snapshot *)ap_msg_new(&apiplatform__v1__snapshot__descriptor);
        for (size_t i = 0; i < ls.n; i++) {
            const char *kind = ls.seen[i]->kind, *id = ls.seen[i]->id;
            ProtobufCMessage *m = NULL;
            if (strcmp(kind, "settings") == 0) {
                if ((m = load_settings(store)) != NULL)
                    d->upserts->settings = (Apiplatform__V1__Settings *)m;
                continue;
            }
            const cp_kind_t *k = kind_by_name(kind);
            char key[CP_KEY_MAX];
            snprintf(key, sizeof(key), "r/%s/%s", kind, id);
            if (k != NULL && snap_field(kind) != NULL &&
                (m = cp_store_get_msg(store, key, k->desc)) != NULL) {
                snap_add(d->upserts, snap_field(kind), m);
            } else if (k != NULL) {
                Apiplatform__V1__Removal *r =
                    (Apiplatform__V1__Removal *)ap_msg_new(&apiplatform__v1__removal__descriptor);
                ap_msg_set_str(&r->base, "kind", kind);
                ap_msg_set_str(&r->base, "id", id);
                d->removals = realloc(d->removals, (d->n_removals + 1) * sizeof(*d->removals));
                d->removals[d->n_removals++] = r;
            }
        }
    }
    for (size_t i = 0; i < ls.n; i++)
        ap_msg_free(&ls.seen[i]->base);
    free(ls.seen);
    return d;
}

Apiplatform__V1__SyncResponse *cp_sync_build(cp_store_t *store, uint64_t from)
{
    uint64_t to = cp_store_revision(store);
    Apiplatform__V1__SyncResponse *r =
        (Apiplatform__V1__SyncResponse *)ap_msg_new(&apiplatform__v1__sync_response__descriptor);
    r->revision = to;
    Apiplatform__V1__Delta *d = (from > 0 && from <= to) ? delta_since(store, from, to) : NULL;
    if (d != NULL) {
        r->update_case = APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_DELTA;
        r->delta = d;
    } else {
        r->update_case = APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_SNAPSHOT;
        r->snapshot = full_snapshot(store);
    }
    return r;
}

/* The test hook: break endpoints marked for refusal. */
static void poison(Apiplatform__V1__SyncResponse *r)
{
    Apiplatform__V1__Snapshot *s = r->update_case == APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_DELTA
                                       ? r->delta->upserts
                                       : r->snapshot;
    for (size_t i = 0; s != NULL && i < s->n_endpoints; i++)
        if (strcmp(s->endpoints[i]->description, "__test_refuse__") == 0)
            ap_msg_set_str(&s->endpoints[i]->base, "collection_id", "col_does_not_exist");
}

/* Sends the node what it lacks, unless an update is in flight or the only
 * news is a revision it already refused. */
/* How many nodes share the rate limits now. */
static uint32_t connected(const cp_sync_t *s)
{
    uint32_t c = 0;
    for (const cp_node_t *n = s->nodes; n != NULL; n = n->next)
        c += n->stream != NULL;
    return c;
}

static void maybe_send(cp_sync_t *s, cp_node_t *n)
{
    uint64_t cur = cp_store_revision(s->store);
    Apiplatform__V1__NodeStatus *st = n->st;
    if (n->stream == NULL || st->pending_revision != 0) return;
    uint32_t nodes = connected(s);
    if (!n->needs_first && st->nack_revision != 0 && cur <= st->nack_revision) return;
    if (!n->needs_first && cur == st->revision && n->sent_nodes == nodes) return;
    Apiplatform__V1__SyncResponse *r = cp_sync_build(s->store, st->revision);
    if (s->test_hooks) poison(r);
    r->node_count = nodes;
    snprintf(n->nonce, sizeof(n->nonce), "%" PRIu64, ++s->nonce_seq);
    ap_msg_set_str(&r->base, "nonce", n->nonce);
    if (ap_stream_send(n->stream, &r->base) == 0) {
        st->pending_revision = r->revision;
        n->needs_first = 0;
        n->sent_nodes = nodes;
        ap_log(AP_LOG_DEBUG, "sync_sent", "node=%s revision=%" PRIu64 " kind=%s nonce=%s",
               st->node_id, r->revision,
               r->update_case == APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_DELTA ? "delta"
                                                                              : "snapshot",
               n->nonce);
    }
    ap_msg_free(&r->base);
}

void cp_sync_notify(cp_sync_t *s)
{
    for (cp_node_t *n = s->nodes; n != NULL; n = n->next)
        maybe_send(s, n);
}

static int cn_matches(const char *pattern, const char *cn)
{
    size_t n = strlen(pattern);
    if (n == 0) return 0;
    if (pattern[n - 1] == '*') return strncmp(pattern, cn, n - 1) == 0;
    return strcmp(pattern, cn) == 0;
}

static int on_open(void *ctx, ap_stream_t *stream, const ap_call_info_t *ci, ap_status_t *st)
{
    cp_sync_t *s = ctx;
    if (ci->peer_cn != NULL && cn_matches(s->node_cn, ci->peer_cn))
        return 0; /* a certificate the server's CA verified, with a node's name */
    const char *h = ci->authorization;
    char hex[65];
    if (h != NULL && strncmp(h, "Bearer ", 7) == 0) {
        ap_sha256_hex(h + 7, strlen(h + 7), hex);
        if (ap_ct_strcmp(hex, s->node_hash) == 0) return 0;
    }
    ap_log(AP_LOG_WARN, "sync_refused", "peer=%s reason=%s", ci->peer,
           h ? "wrong node token" : "no node token");
    ap_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                  h ? "the node token was not accepted"
                    : "a node token or client certificate is required");
    return -1;
}

static cp_node_t *node_get(cp_sync_t *s, const char *id)
{
    for (cp_node_t *n = s->nodes; n != NULL; n = n->next)
        if (strcmp(n->st->node_id, id) == 0) return n;
    cp_node_t *n = calloc(1, sizeof(*n));
    n->st = (Apiplatform__V1__NodeStatus *)ap_msg_new(&apiplatform__v1__node_status__descriptor);
    ap_msg_set_str(&n->st->base, "node_id", id);
    n->next = s->nodes;
    s->nodes = n;
    return n;
}

static void on_hello(cp_sync_t *s, ap_stream_t *stream, const Apiplatform__V1__NodeHello *h)
{
    if (h->node_id[0] == '\0') {
        ap_stream_finish(stream, GRPC_STATUS_INVALID_ARGUMENT, "hello.node_id: is required");
        return;
    }
    cp_node_t *n = node_get(s, h->node_id);
    if (n->stream != NULL && n->stream != stream) {
        /* the same node id connected again: the newer stream wins */
        ap_stream_set_data(n->stream, NULL);
        ap_stream_finish(n->stream, GRPC_STATUS_ABORTED, "replaced by a newer stream of this node");
    }
    n->stream = stream;
    ap_stream_set_data(stream, n);
    /* a fresh status: what this connection says replaces the last one's */
    Apiplatform__V1__NodeStatus *st, *old = n->st;
    n->st = st =
        (Apiplatform__V1__NodeStatus *)ap_msg_new(&apiplatform__v1__node_status__descriptor);
    /* a refusal is remembered across reconnects, so it is not re-sent blindly */
    st->nack_revision = old->nack_revision;
    st->nack_time = old->nack_time;
    ap_msg_set_str(&st->base, "nack_error", old->nack_error);
    ap_msg_free(&old->base);
    ap_msg_set_str(&st->base, "node_id", h->node_id);
    ap_msg_set_str(&st->base, "build_version", h->build_version);
    ap_msg_set_str(&st->base, "address", ap_stream_info(stream)->peer);
    st->n_labels = h->n_labels;
    st->labels = calloc(h->n_labels ? h->n_labels : 1, sizeof(*st->labels));
    for (size_t i = 0; i < h->n_labels; i++)
        st->labels[i] = (Apiplatform__V1__Label *)ap_msg_dup(&h->labels[i]->base);
    st->connected = 1;
    st->revision = h->revision;
    st->connect_time = st->last_seen_time = (int64_t)time(NULL);
    n->needs_first = 1;
    cp_quota_node_up(s->quota, h->node_id);
    ap_log(AP_LOG_INFO, "node_connected", "node=%s revision=%" PRIu64 " peer=%s version=%s",
           h->node_id, h->revision, st->address, h->build_version);
    cp_sync_notify(s); /* this node's first update, and everyone's new share */
}

/* Usage and quota leases: recorded, then answered at once with the node's
 * leases (a response without an update, never acknowledged). */
static void on_report(cp_sync_t *s, cp_node_t *n, const Apiplatform__V1__UsageReport *rep)
{
    int64_t now = ap_wall_ms();
    if (rep->n_counters > 0) cp_usage_record(s->store, rep, now / 1000);
    Apiplatform__V1__SyncResponse resp = APIPLATFORM__V1__SYNC_RESPONSE__INIT;
    Apiplatform__V1__ReportAck ack = APIPLATFORM__V1__REPORT_ACK__INIT;
    cp_quota_report(s->quota, n->st->node_id, rep, connected(s), now, &ack);
    ack.seq = rep->seq;
    resp.report_ack = &ack;
    resp.nonce = "";
    resp.node_count = connected(s);
    ap_stream_send(n->stream, &resp.base);
    cp_quota_ack_clear(&ack);
}

static void on_message(void *ctx, ap_stream_t *stream, const ProtobufCMessage *m)
{
    cp_sync_t *s = ctx;
    const Apiplatform__V1__SyncRequest *r = (const Apiplatform__V1__SyncRequest *)m;
    cp_node_t *n = ap_stream_data(stream);
    if (r->message_case == APIPLATFORM__V1__SYNC_REQUEST__MESSAGE_HELLO) {
        on_hello(s, stream, r->hello);
        return;
    }
    if (n == NULL) {
        ap_stream_finish(stream, GRPC_STATUS_FAILED_PRECONDITION, "say hello first");
        return;
    }
    Apiplatform__V1__NodeStatus *st = n->st;
    st->last_seen_time = (int64_t)time(NULL);
    if (r->message_case == APIPLATFORM__V1__SYNC_REQUEST__MESSAGE_ACK) {
        if (strcmp(r->ack->nonce, n->nonce) != 0 || st->pending_revision == 0)
            return; /* stale: an answer to an update we no longer wait for */
        st->revision = st->pending_revision;
        st->pending_revision = 0;
        st->last_ack_time = st->last_seen_time;
        ap_log(AP_LOG_DEBUG, "sync_ack", "node=%s revision=%" PRIu64, st->node_id, st->revision);
    } else if (r->message_case == APIPLATFORM__V1__SYNC_REQUEST__MESSAGE_REPORT) {
        on_report(s, n, r->report);
        return;
    } else if (r->message_case == APIPLATFORM__V1__SYNC_REQUEST__MESSAGE_NACK) {
        if (strcmp(r->nack->nonce, n->nonce) != 0 || st->pending_revision == 0) return;
        st->nack_revision = st->pending_revision;
        st->pending_revision = 0;
        st->nack_time = st->last_seen_time;
        ap_msg_set_str(&st->base, "nack_error", r->nack->error);
        char q[600];
        ap_log(AP_LOG_WARN, "sync_nack", "node=%s revision=%" PRIu64 " error=%s", st->node_id,
               st->nack_revision, ap_log_quote(r->nack->error, q, sizeof(q)));
    }
    maybe_send(s, n);
}

static void on_end(void *ctx, ap_stream_t *stream)
{
    cp_node_t *n = ap_stream_data(stream);
    if (n == NULL || n->stream != stream) return;
    n->stream = NULL;
    n->st->connected = 0;
    n->st->pending_revision = 0;
    n->st->last_seen_time = (int64_t)time(NULL);
    cp_quota_node_down(((cp_sync_t *)ctx)->quota, n->st->node_id, ap_wall_ms());
    ap_log(AP_LOG_INFO, "node_disconnected", "node=%s revision=%" PRIu64, n->st->node_id,
           n->st->revision);
    cp_sync_notify(ctx); /* the others' shares grow */
}

const ap_stream_method_t cp_sync_stream_method = {"/apiplatform.v1.Sync/Stream",
                                                  &apiplatform__v1__sync_request__descriptor,
                                                  on_open,
                                                  on_message,
                                                  on_end,
                                                  NULL};

cp_sync_t *cp_sync_new(cp_store_t *store, const char *node_hash, const char *node_cn,
                       int test_hooks, uint32_t quota_ttl_ms, uint64_t quota_grant_cap)
{
    cp_sync_t *s = calloc(1, sizeof(*s));
    s->store = store;
    snprintf(s->node_hash, sizeof(s->node_hash), "%s", node_hash);
    snprintf(s->node_cn, sizeof(s->node_cn), "%s", node_cn ? node_cn : "");
    s->test_hooks = test_hooks;
    s->quota = cp_quota_new(store, quota_ttl_ms, quota_grant_cap, ap_wall_ms());
    return s;
}

void cp_sync_free(cp_sync_t *s)
{
    if (s == NULL) return;
    cp_quota_free(s->quota);
    for (cp_node_t *n = s->nodes, *next; n != NULL; n = next) {
        next = n->next;
        ap_msg_free(&n->st->base);
        free(n);
    }
    free(s);
}

size_t cp_sync_nodes(cp_sync_t *s, Apiplatform__V1__NodeStatus ***out)
{
    size_t n = 0;
    for (cp_node_t *i = s->nodes; i != NULL; i = i->next)
        n++;
    *out = calloc(n ? n : 1, sizeof(**out));
    size_t k = 0;
    for (cp_node_t *i = s->nodes; i != NULL; i = i->next)
        (*out)[k++] = (Apiplatform__V1__NodeStatus *)ap_msg_dup(&i->st->base);
    return n;
}

Apiplatform__V1__ListQuotasResponse *
cp_sync_quotas(cp_sync_t *s, const Apiplatform__V1__ListQuotasRequest *req, ap_status_t *st)
{
    return cp_quota_list(s->quota, req, ap_wall_ms(), st);
}

void cp_sync_tick(cp_sync_t *s)
{
    cp_quota_tick(s->quota, ap_wall_ms());
}
