/* Generic resource layer (see resource.h). Resources are stored at
 * r/<kind>/<id>; each unique key at n/<kind>/<parent id>/<key> -> id. Names
 * and ids are interchangeable wherever a resource is named: an id is tried
 * first, then the name within the parent (or across parents when it is
 * unambiguous). */
#include "resource.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "ap_msg.h"
#include "validate.h"

/* ---- the kinds ---- */

static void collection_defaults(ProtobufCMessage *m)
{
    Apiplatform__V1__Collection *c = (Apiplatform__V1__Collection *)m;
    if (c->active_set_case == APIPLATFORM__V1__COLLECTION__ACTIVE_SET__NOT_SET) {
        c->active_set_case = APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE;
        c->active = 1;
    }
    if (c->path[0] == '\0' && c->name[0] != '\0') {
        char a[256], b[64], p[330];
        cp_slug(c->name, a, sizeof(a));
        cp_slug(c->version, b, sizeof(b));
        snprintf(p, sizeof(p), "%s-%s", a, b);
        ap_msg_set_str(m, "path", p);
    }
}

static size_t collection_keys(const ProtobufCMessage *m, char keys[CP_MAX_KEYS][CP_KEY_MAX])
{
    const Apiplatform__V1__Collection *c = (const Apiplatform__V1__Collection *)m;
    snprintf(keys[0], CP_KEY_MAX, "name:%s", c->name);
    snprintf(keys[1], CP_KEY_MAX, "path:%s", c->path);
    return 2;
}

static void endpoint_defaults(ProtobufCMessage *m)
{
    Apiplatform__V1__Endpoint *e = (Apiplatform__V1__Endpoint *)m;
    for (char *c = e->method; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    if (e->name[0] == '\0' && e->method[0] != '\0') {
        char n[600];
        snprintf(n, sizeof(n), "%s %s", e->method, e->path);
        ap_msg_set_str(m, "name", n);
    }
    if (e->timeout_ms == 0) e->timeout_ms = 30000;
    if (e->target != NULL && e->target->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC &&
        e->target->content_type[0] == '\0')
        ap_msg_set_str(&e->target->base, "content_type", "application/json");
}

static size_t endpoint_keys(const ProtobufCMessage *m, char keys[CP_MAX_KEYS][CP_KEY_MAX])
{
    const Apiplatform__V1__Endpoint *e = (const Apiplatform__V1__Endpoint *)m;
    cp_path_template_t tpl;
    char err[200];
    snprintf(keys[0], CP_KEY_MAX, "name:%s", e->name);
    if (cp_path_template_parse(e->path, &tpl, err, sizeof(err)) != 0) return 1;
    snprintf(keys[1], CP_KEY_MAX, "route:%s %s", e->method, tpl.route);
    return 2;
}

static void client_defaults(ProtobufCMessage *m)
{
    Apiplatform__V1__Client *c = (Apiplatform__V1__Client *)m;
    if (c->enabled_set_case == APIPLATFORM__V1__CLIENT__ENABLED_SET__NOT_SET) {
        c->enabled_set_case = APIPLATFORM__V1__CLIENT__ENABLED_SET_ENABLED;
        c->enabled = 1;
    }
}

static void profile_defaults(ProtobufCMessage *m)
{
    Apiplatform__V1__AccessProfile *p = (Apiplatform__V1__AccessProfile *)m;
    if (p->enabled_set_case == APIPLATFORM__V1__ACCESS_PROFILE__ENABLED_SET__NOT_SET) {
        p->enabled_set_case = APIPLATFORM__V1__ACCESS_PROFILE__ENABLED_SET_ENABLED;
        p->enabled = 1;
    }
    if (p->auth_method == APIPLATFORM__V1__AUTH_METHOD__AUTH_METHOD_UNSPECIFIED)
        p->auth_method = APIPLATFORM__V1__AUTH_METHOD__AUTH_METHOD_API_TOKEN;
}

static void no_defaults(ProtobufCMessage *m) {}

static size_t name_key(const ProtobufCMessage *m, char keys[CP_MAX_KEYS][CP_KEY_MAX])
{
    snprintf(keys[0], CP_KEY_MAX, "name:%s", ap_msg_get_str(m, "name"));
    return 1;
}

static size_t no_keys(const ProtobufCMessage *m, char keys[CP_MAX_KEYS][CP_KEY_MAX])
{
    return 0;
}

static int token_validate(const ProtobufCMessage *m, ap_status_t *st)
{
    return 0; /* tokens are made by the server, never from user fields */
}

#define VALIDATOR(fn, type)                                                                        \
    static int fn##_any(const ProtobufCMessage *m, ap_status_t *st)                                \
    {                                                                                              \
        return fn((const type *)m, st);                                                            \
    }
VALIDATOR(cp_validate_collection, Apiplatform__V1__Collection)
VALIDATOR(cp_validate_endpoint, Apiplatform__V1__Endpoint)
VALIDATOR(cp_validate_client, Apiplatform__V1__Client)
VALIDATOR(cp_validate_profile, Apiplatform__V1__AccessProfile)
VALIDATOR(cp_validate_policy, Apiplatform__V1__AccessPolicy)

static const cp_ref_t PROFILE_REFS[] = {
    {"collection_ids", &CP_KIND_COLLECTION},
    {"policy_id", &CP_KIND_POLICY},
};

const cp_kind_t CP_KIND_COLLECTION = {"collection",
                                      "col",
                                      &apiplatform__v1__collection__descriptor,
                                      NULL,
                                      NULL,
                                      NULL,
                                      0,
                                      collection_defaults,
                                      cp_validate_collection_any,
                                      collection_keys};
const cp_kind_t CP_KIND_ENDPOINT = {"endpoint",
                                    "ep",
                                    &apiplatform__v1__endpoint__descriptor,
                                    "collection_id",
                                    &CP_KIND_COLLECTION,
                                    NULL,
                                    0,
                                    endpoint_defaults,
                                    cp_validate_endpoint_any,
                                    endpoint_keys};
const cp_kind_t CP_KIND_CLIENT = {"client",
                                  "cli",
                                  &apiplatform__v1__client__descriptor,
                                  NULL,
                                  NULL,
                                  NULL,
                                  0,
                                  client_defaults,
                                  cp_validate_client_any,
                                  name_key};
const cp_kind_t CP_KIND_POLICY = {
    "policy", "pol",       &apiplatform__v1__access_policy__descriptor,
    NULL,     NULL,        NULL,
    0,        no_defaults, cp_validate_policy_any,
    name_key};
const cp_kind_t CP_KIND_PROFILE = {"profile",
                                   "prf",
                                   &apiplatform__v1__access_profile__descriptor,
                                   "client_id",
                                   &CP_KIND_CLIENT,
                                   PROFILE_REFS,
                                   2,
                                   profile_defaults,
                                   cp_validate_profile_any,
                                   name_key};
const cp_kind_t CP_KIND_TOKEN = {"token",
                                 "tok",
                                 &apiplatform__v1__token__descriptor,
                                 "profile_id",
                                 &CP_KIND_PROFILE,
                                 NULL,
                                 0,
                                 no_defaults,
                                 token_validate,
                                 no_keys};

const cp_kind_t *const cp_kinds[] = {&CP_KIND_COLLECTION,
                                     &CP_KIND_ENDPOINT,
                                     &CP_KIND_CLIENT,
                                     &CP_KIND_POLICY,
                                     &CP_KIND_PROFILE,
                                     &CP_KIND_TOKEN,
                                     NULL};

/* ---- ids, keys ---- */

void cp_res_new_id(const cp_kind_t *k, char *id)
{
    /* time-ordered so a scan lists oldest first: 12 hex digits of
     * milliseconds, 4 of a per-process sequence, 4 random */
    static uint64_t last_ms;
    static unsigned seq;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    if (ms <= last_ms) {
        ms = last_ms;
        seq++;
    } else {
        last_ms = ms;
        seq = 0;
    }
    unsigned rnd = (unsigned)random() & 0xffff;
    snprintf(id, 64, "%s_%012" PRIx64 "%04x%04x", k->id_prefix, ms, seq & 0xffff, rnd);
}

void cp_res_key(char *buf, size_t n, const cp_kind_t *k, const char *id)
{
    snprintf(buf, n, "r/%s/%s", k->name, id);
}

/* Validation bounds names (100), routes (~410) and ids (64), so keys fit;
 * an over-long key (a lookup of a huge name) becomes one no index holds. */
void cp_res_index_key(char *buf, size_t n, const cp_kind_t *k, const char *parent_id,
                      const char *key)
{
    int w = snprintf(buf, n, "n/%s/%s/%s", k->name, parent_id, key);
    if (w < 0 || (size_t)w >= n) snprintf(buf, n, "n/%s/-/too-long", k->name);
}

static const char *parent_of(const cp_kind_t *k, const ProtobufCMessage *m)
{
    return k->parent_field ? ap_msg_get_str(m, k->parent_field) : "";
}

/* ---- lookups ---- */

static ProtobufCMessage *load(cp_store_t *s, const cp_kind_t *k, const char *id)
{
    char key[CP_KEY_MAX];
    cp_res_key(key, sizeof(key), k, id);
    return cp_store_get_msg(s, key, k->desc);
}

typedef struct {
    const char *suffix;
    size_t found;
    char id[64];
} name_scan_t;

static int on_name(void *ctx, const char *key, size_t kl, const char *val, size_t vl)
{
    name_scan_t *ns = ctx;
    size_t sl = strlen(ns->suffix);
    /* key: n/<kind>/<parent>/name:<name>; the parent part holds no '/' */
    if (kl > sl && memcmp(key + kl - sl, ns->suffix, sl) == 0 && key[kl - sl - 1] == '/') {
        const char *slash = memchr(key + 2, '/', kl - 2);
        if (slash != NULL &&
            memchr(slash + 1, '/', (size_t)(key + kl - sl - 1 - slash - 1)) == NULL) {
            if (ns->found++ == 0 && vl < sizeof(ns->id)) {
                memcpy(ns->id, val, vl);
                ns->id[vl] = '\0';
            }
        }
    }
    return 0;
}

int cp_res_resolve(cp_store_t *s, const cp_kind_t *k, const char *ref, const char *parent_ref,
                   char *id, ap_status_t *st)
{
    if (ref == NULL || ref[0] == '\0') {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: an id or name is required", k->name);
        return -1;
    }
    char key[CP_KEY_MAX];
    size_t pl = strlen(k->id_prefix);
    if (strncmp(ref, k->id_prefix, pl) == 0 && ref[pl] == '_' && strlen(ref) < 64) {
        cp_res_key(key, sizeof(key), k, ref);
        size_t len;
        char *v = cp_store_get(s, key, &len);
        if (v != NULL) {
            free(v);
            strcpy(id, ref);
            return 0;
        }
    }
    char pid[64] = "";
    if (k->parent != NULL && parent_ref != NULL && parent_ref[0] != '\0') {
        if (cp_res_resolve(s, k->parent, parent_ref, NULL, pid, st) != 0) return -1;
    }
    if (k->parent == NULL || pid[0] != '\0') {
        char nk[CP_KEY_MAX];
        snprintf(nk, sizeof(nk), "name:%s", ref);
        cp_res_index_key(key, sizeof(key), k, pid, nk);
        size_t len;
        char *v = cp_store_get(s, key, &len);
        if (v != NULL && len < 64) {
            memcpy(id, v, len);
            id[len] = '\0';
            free(v);
            return 0;
        }
        free(v);
        ap_status_set(st, GRPC_STATUS_NOT_FOUND, "%s \"%s\" not found%s%s", k->name, ref,
                      pid[0] ? " in " : "", pid[0] ? k->parent->name : "");
        return -1;
    }
    /* a child's name without its parent: fine while only one parent has it */
    char prefix[CP_KEY_MAX], suffix[CP_KEY_MAX];
    snprintf(prefix, sizeof(prefix), "n/%s/", k->name);
    snprintf(suffix, sizeof(suffix), "name:%s", ref);
    name_scan_t ns = {suffix, 0, ""};
    cp_store_scan(s, prefix, NULL, on_name, &ns);
    if (ns.found == 1) {
        strcpy(id, ns.id);
        return 0;
    }
    if (ns.found == 0)
        ap_status_set(st, GRPC_STATUS_NOT_FOUND, "%s \"%s\" not found", k->name, ref);
    else
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "%s name \"%s\" is used in %zu %ss; name the %s too", k->name, ref, ns.found,
                      k->parent->name, k->parent->name);
    return -1;
}

ProtobufCMessage *cp_res_get(cp_store_t *s, const cp_kind_t *k, const char *ref,
                             const char *parent_ref, ap_status_t *st)
{
    char id[64];
    if (cp_res_resolve(s, k, ref, parent_ref, id, st) != 0) return NULL;
    ProtobufCMessage *m = load(s, k, id);
    if (m == NULL) ap_status_set(st, GRPC_STATUS_NOT_FOUND, "%s \"%s\" not found", k->name, ref);
    return m;
}

typedef struct {
    const cp_kind_t *k;
    const char *parent_id;
    size_t want, n;
    ProtobufCMessage **items;
    int more;
    void (*fn)(void *, ProtobufCMessage *);
    void *fn_ctx;
} list_scan_t;

static int on_item(void *ctx, const char *key, size_t kl, const char *val, size_t vl)
{
    list_scan_t *ls = ctx;
    ProtobufCMessage *m = protobuf_c_message_unpack(ls->k->desc, NULL, vl, (const uint8_t *)val);
    if (m == NULL) return 0;
    if (ls->fn != NULL) {
        ls->fn(ls->fn_ctx, m);
        ap_msg_free(m);
        return 0;
    }
    if (ls->parent_id != NULL && strcmp(parent_of(ls->k, m), ls->parent_id) != 0) {
        ap_msg_free(m);
        return 0;
    }
    if (ls->n == ls->want) {
        ls->more = 1;
        ap_msg_free(m);
        return 1;
    }
    ls->items[ls->n++] = m;
    return 0;
}

int cp_res_list(cp_store_t *s, const cp_kind_t *k, const char *parent_ref, uint32_t page_size,
                const char *page_token, ProtobufCMessage ***items, size_t *n, char **next,
                ap_status_t *st)
{
    char pid[64];
    if (page_size == 0) page_size = 100;
    if (page_size > 1000) page_size = 1000;
    if (parent_ref != NULL && parent_ref[0] != '\0') {
        if (k->parent == NULL) {
            ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "parent: %ss have no parent", k->name);
            return -1;
        }
        if (cp_res_resolve(s, k->parent, parent_ref, NULL, pid, st) != 0) return -1;
    }
    if (page_token != NULL && page_token[0] != '\0' &&
        (strncmp(page_token, k->id_prefix, strlen(k->id_prefix)) != 0 || strchr(page_token, '/'))) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "page_token: not a token this list returned");
        return -1;
    }
    char prefix[CP_KEY_MAX], start[CP_KEY_MAX];
    snprintf(prefix, sizeof(prefix), "r/%s/", k->name);
    if (page_token != NULL && page_token[0] != '\0')
        cp_res_key(start, sizeof(start), k, page_token);
    list_scan_t ls = {k,
                      (parent_ref && parent_ref[0]) ? pid : NULL,
                      page_size,
                      0,
                      calloc(page_size, sizeof(ProtobufCMessage *)),
                      0,
                      NULL,
                      NULL};
    cp_store_scan(s, prefix, (page_token && page_token[0]) ? start : NULL, on_item, &ls);
    *items = ls.items;
    *n = ls.n;
    *next = strdup(ls.more && ls.n > 0 ? ap_msg_get_str(ls.items[ls.n - 1], "id") : "");
    return 0;
}

void cp_res_each(cp_store_t *s, const cp_kind_t *k, void (*fn)(void *ctx, ProtobufCMessage *m),
                 void *ctx)
{
    char prefix[CP_KEY_MAX];
    snprintf(prefix, sizeof(prefix), "r/%s/", k->name);
    list_scan_t ls = {k, NULL, 0, 0, NULL, 0, fn, ctx};
    cp_store_scan(s, prefix, NULL, on_item, &ls);
}

/* ---- writes ---- */

/* Replaces every id-or-name in the parent and reference fields by an id. */
static int resolve_refs(cp_store_t *s, const cp_kind_t *k, ProtobufCMessage *m, ap_status_t *st)
{
    char id[64];
    if (k->parent_field != NULL) {
        const char *ref = ap_msg_get_str(m, k->parent_field);
        if (ref[0] == '\0')
            return ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s.%s: is required", k->name,
                                 k->parent_field),
                   -1;
        if (cp_res_resolve(s, k->parent, ref, NULL, id, st) != 0) {
            ap_status_prefix(st, "%s.%s", k->name, k->parent_field);
            return -1;
        }
        ap_msg_set_str(m, k->parent_field, id);
    }
    for (size_t r = 0; r < k->n_refs; r++) {
        const cp_ref_t *ref = &k->refs[r];
        const ProtobufCFieldDescriptor *fd = ap_msg_field(k->desc, ref->field);
        size_t count = fd->label == PROTOBUF_C_LABEL_REPEATED ? ap_msg_count(m, ref->field) : 1;
        for (size_t i = 0; i < count; i++) {
            const char *v = fd->label == PROTOBUF_C_LABEL_REPEATED
                                ? ap_msg_get_str_at(m, ref->field, i)
                                : ap_msg_get_str(m, ref->field);
            if (v[0] == '\0' && fd->label != PROTOBUF_C_LABEL_REPEATED) continue;
            if (cp_res_resolve(s, ref->target, v, NULL, id, st) != 0) {
                ap_status_prefix(st, "%s.%s", k->name, ref->field);
                return -1;
            }
            if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
                for (size_t j = 0; j < i; j++)
                    if (strcmp(ap_msg_get_str_at(m, ref->field, j), id) == 0)
                        return ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                                             "%s.%s: \"%s\" is listed twice", k->name, ref->field,
                                             v),
                               -1;
                ap_msg_set_str_at(m, ref->field, i, id);
            } else {
                ap_msg_set_str(m, ref->field, id);
            }
        }
    }
    return 0;
}

static const char *const OUTPUT_ONLY[] = {"id", "create_time", "update_time", "revision", NULL};

int cp_res_output_only(const char *path)
{
    for (const char *const *f = OUTPUT_ONLY; *f; f++)
        if (strcmp(path, *f) == 0) return 1;
    return 0;
}

/* Adds the unique keys of m that old (may be NULL) does not have; refuses
 * keys taken by another resource. */
static int claim_keys(cp_store_t *s, cp_txn_t *t, const cp_kind_t *k, const ProtobufCMessage *m,
                      const ProtobufCMessage *old, ap_status_t *st)
{
    char keys[CP_MAX_KEYS][CP_KEY_MAX], oldkeys[CP_MAX_KEYS][CP_KEY_MAX], key[CP_KEY_MAX + 80];
    size_t n = k->keys(m, keys), on = old ? k->keys(old, oldkeys) : 0;
    const char *id = ap_msg_get_str(m, "id");
    for (size_t i = 0; i < n; i++) {
        int had = 0;
        for (size_t j = 0; j < on; j++)
            had |= strcmp(keys[i], oldkeys[j]) == 0;
        if (had) continue;
        cp_res_index_key(key, sizeof(key), k, parent_of(k, m), keys[i]);
        size_t len;
        char *v = cp_store_get(s, key, &len);
        if (v != NULL) {
            free(v);
            char *colon = strchr(keys[i], ':');
            *colon = '\0';
            ap_status_set(st, GRPC_STATUS_ALREADY_EXISTS,
                          "%s.%s: a %s with %s \"%s\" already exists%s", k->name,
                          strcmp(keys[i], "route") == 0 ? "path" : keys[i], k->name, keys[i],
                          colon + 1, k->parent ? " in this " : "");
            if (k->parent)
                strncat(st->message, k->parent->name,
                        sizeof(st->message) - strlen(st->message) - 1);
            return -1;
        }
        cp_txn_put(t, key, id, strlen(id));
    }
    for (size_t j = 0; j < on; j++) {
        int keep = 0;
        for (size_t i = 0; i < n; i++)
            keep |= strcmp(keys[i], oldkeys[j]) == 0;
        if (!keep) {
            cp_res_index_key(key, sizeof(key), k, parent_of(k, old), oldkeys[j]);
            cp_txn_del(t, key);
        }
    }
    return 0;
}

static ProtobufCMessage *commit_one(cp_txn_t *t, ProtobufCMessage *m, ap_status_t *st)
{
    char *err = NULL;
    if (cp_txn_commit(t, &err) == 0) {
        ap_status_set(st, GRPC_STATUS_INTERNAL, "store write failed: %s", err);
        free(err);
        ap_msg_free(m);
        return NULL;
    }
    return m;
}

ProtobufCMessage *cp_res_create(cp_store_t *s, const cp_kind_t *k, const ProtobufCMessage *in,
                                const char *actor, ap_status_t *st)
{
    if (in == NULL || in->descriptor != k->desc) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: is required", k->name);
        return NULL;
    }
    ProtobufCMessage *m = ap_msg_dup(in);
    if (resolve_refs(s, k, m, st) != 0) goto fail;
    k->defaults(m);
    if (k->validate(m, st) != 0) goto fail;
    char id[64], key[CP_KEY_MAX];
    cp_res_new_id(k, id);
    ap_msg_set_str(m, "id", id);
    cp_txn_t *t = cp_txn_begin(s, actor);
    int64_t now = (int64_t)time(NULL);
    ap_msg_set_u64(m, "create_time", (uint64_t)now);
    ap_msg_set_u64(m, "update_time", (uint64_t)now);
    ap_msg_set_u64(m, "revision", cp_txn_revision(t));
    if (claim_keys(s, t, k, m, NULL, st) != 0) {
        cp_txn_abort(t);
        goto fail;
    }
    cp_res_key(key, sizeof(key), k, id);
    cp_txn_put_msg(t, key, m);
    cp_txn_change(t, k->name, id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_CREATE);
    return commit_one(t, m, st);
fail:
    ap_msg_free(m);
    return NULL;
}

static int check_revision(const cp_kind_t *k, const ProtobufCMessage *m, uint64_t expected,
                          ap_status_t *st)
{
    uint64_t rev = ap_msg_get_u64(m, "revision");
    if (expected != 0 && expected != rev) {
        ap_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                      "expected_revision: %s %s is at revision %" PRIu64 ", not %" PRIu64
                      "; read it again and retry",
                      k->name, ap_msg_get_str(m, "id"), rev, expected);
        return -1;
    }
    return 0;
}

ProtobufCMessage *cp_res_update(cp_store_t *s, const cp_kind_t *k, const char *ref,
                                const char *parent_ref, const ProtobufCMessage *patch,
                                char *const *mask, size_t n_mask, uint64_t expected_revision,
                                const char *actor, ap_status_t *st)
{
    if (patch == NULL || patch->descriptor != k->desc) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: is required", k->name);
        return NULL;
    }
    ProtobufCMessage *old = cp_res_get(s, k, ref, parent_ref, st);
    if (old == NULL) return NULL;
    ProtobufCMessage *m = NULL;
    if (check_revision(k, old, expected_revision, st) != 0) goto fail;
    m = ap_msg_dup(old);
    char err[256];
    for (size_t i = 0; i < (n_mask ? n_mask : k->desc->n_fields); i++) {
        const char *path = n_mask ? mask[i] : k->desc->fields[i].name;
        if (ap_msg_field(k->desc, path) == NULL) {
            ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "update_mask: %s has no field \"%s\"",
                          k->name, path);
            goto fail;
        }
        if (cp_res_output_only(path) || (k->parent_field && strcmp(path, k->parent_field) == 0)) {
            if (n_mask == 0) continue;
            ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "update_mask: %s.%s cannot be changed",
                          k->name, path);
            goto fail;
        }
        if (ap_msg_copy_field(m, patch, path, err, sizeof(err)) != 0) {
            ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s.%s: %s", k->name, path, err);
            goto fail;
        }
    }
    if (resolve_refs(s, k, m, st) != 0) goto fail;
    k->defaults(m);
    if (k->validate(m, st) != 0) goto fail;
    cp_txn_t *t = cp_txn_begin(s, actor);
    ap_msg_set_u64(m, "update_time", (uint64_t)time(NULL));
    ap_msg_set_u64(m, "revision", cp_txn_revision(t));
    if (claim_keys(s, t, k, m, old, st) != 0) {
        cp_txn_abort(t);
        goto fail;
    }
    char key[CP_KEY_MAX];
    cp_res_key(key, sizeof(key), k, ap_msg_get_str(m, "id"));
    cp_txn_put_msg(t, key, m);
    cp_txn_change(t, k->name, ap_msg_get_str(m, "id"),
                  APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE);
    ap_msg_free(old);
    return commit_one(t, m, st);
fail:
    ap_msg_free(old);
    ap_msg_free(m);
    return NULL;
}

/* ---- delete ---- */

typedef struct {
    const cp_kind_t *k;
    const char *match_field;
    const char *match_id;
    ProtobufCMessage **items;
    size_t n;
} collect_t;

static int references(const ProtobufCMessage *m, const char *field, const char *id)
{
    const ProtobufCFieldDescriptor *fd = ap_msg_field(m->descriptor, field);
    if (fd->label != PROTOBUF_C_LABEL_REPEATED) return strcmp(ap_msg_get_str(m, field), id) == 0;
    for (size_t i = 0; i < ap_msg_count(m, field); i++)
        if (strcmp(ap_msg_get_str_at(m, field, i), id) == 0) return 1;
    return 0;
}

static int on_collect(void *ctx, const char *key, size_t kl, const char *val, size_t vl)
{
    collect_t *c = ctx;
    ProtobufCMessage *m = protobuf_c_message_unpack(c->k->desc, NULL, vl, (const uint8_t *)val);
    if (m == NULL) return 0;
    if (!references(m, c->match_field, c->match_id)) {
        ap_msg_free(m);
        return 0;
    }
    c->items = realloc(c->items, (c->n + 1) * sizeof(*c->items));
    c->items[c->n++] = m;
    return 0;
}

/* Resources of kind k whose `field` names id. */
static collect_t collect(cp_store_t *s, const cp_kind_t *k, const char *field, const char *id)
{
    char prefix[CP_KEY_MAX];
    snprintf(prefix, sizeof(prefix), "r/%s/", k->name);
    collect_t c = {k, field, id, NULL, 0};
    cp_store_scan(s, prefix, NULL, on_collect, &c);
    return c;
}

static void collect_free(collect_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        ap_msg_free(c->items[i]);
    free(c->items);
}

/* Removes id from m's reference field (repeated or single). */
static void strip_ref(ProtobufCMessage *m, const char *field, const char *id)
{
    const ProtobufCFieldDescriptor *fd = ap_msg_field(m->descriptor, field);
    if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
        ap_msg_set_str(m, field, "");
        return;
    }
    size_t *n = (size_t *)((char *)m + fd->quantifier_offset);
    char **arr = *(char ***)((char *)m + fd->offset);
    size_t o = 0;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(arr[i], id) == 0)
            free(arr[i]);
        else
            arr[o++] = arr[i];
    }
    *n = o;
}

static int delete_rec(cp_store_t *s, cp_txn_t *t, const cp_kind_t *k, const ProtobufCMessage *m,
                      int cascade, ap_status_t *st)
{
    const char *id = ap_msg_get_str(m, "id");
    /* references from other kinds */
    for (const cp_kind_t *const *o = cp_kinds; *o; o++) {
        for (size_t r = 0; r < (*o)->n_refs; r++) {
            if ((*o)->refs[r].target != k) continue;
            collect_t c = collect(s, *o, (*o)->refs[r].field, id);
            if (c.n > 0 && !cascade) {
                ap_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                              "%s \"%s\" is used by %zu %s(s), e.g. \"%s\"; remove it there first "
                              "or delete with cascade",
                              k->name, ap_msg_get_str(m, "name"), c.n, (*o)->name,
                              ap_msg_get_str(c.items[0], "name"));
                collect_free(&c);
                return -1;
            }
            for (size_t i = 0; i < c.n; i++) {
                char key[CP_KEY_MAX];
                strip_ref(c.items[i], (*o)->refs[r].field, id);
                ap_msg_set_u64(c.items[i], "revision", cp_txn_revision(t));
                ap_msg_set_u64(c.items[i], "update_time", (uint64_t)time(NULL));
                cp_res_key(key, sizeof(key), *o, ap_msg_get_str(c.items[i], "id"));
                cp_txn_put_msg(t, key, c.items[i]);
                cp_txn_change(t, (*o)->name, ap_msg_get_str(c.items[i], "id"),
                              APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE);
            }
            collect_free(&c);
        }
    }
    /* children go with their parent */
    for (const cp_kind_t *const *o = cp_kinds; *o; o++) {
        if ((*o)->parent != k) continue;
        collect_t c = collect(s, *o, (*o)->parent_field, id);
        int rc = 0;
        for (size_t i = 0; i < c.n && rc == 0; i++)
            rc = delete_rec(s, t, *o, c.items[i], cascade, st);
        collect_free(&c);
        if (rc != 0) return -1;
    }
    char keys[CP_MAX_KEYS][CP_KEY_MAX], key[CP_KEY_MAX + 80];
    size_t n = k->keys(m, keys);
    for (size_t i = 0; i < n; i++) {
        cp_res_index_key(key, sizeof(key), k, parent_of(k, m), keys[i]);
        cp_txn_del(t, key);
    }
    cp_res_key(key, sizeof(key), k, id);
    cp_txn_del(t, key);
    cp_txn_change(t, k->name, id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE);
    return 0;
}

uint64_t cp_res_delete(cp_store_t *s, const cp_kind_t *k, const char *ref, const char *parent_ref,
                       uint64_t expected_revision, int cascade, const char *actor,
                       Apiplatform__V1__Change ***changes, size_t *n_changes, ap_status_t *st)
{
    ProtobufCMessage *m = cp_res_get(s, k, ref, parent_ref, st);
    if (m == NULL) return 0;
    uint64_t rev = 0;
    if (check_revision(k, m, expected_revision, st) != 0) goto out;
    cp_txn_t *t = cp_txn_begin(s, actor);
    if (delete_rec(s, t, k, m, cascade, st) != 0) {
        cp_txn_abort(t);
        goto out;
    }
    if (changes != NULL) {
        Apiplatform__V1__Change *const *cs;
        size_t n = cp_txn_changes(t, &cs);
        *changes = calloc(n ? n : 1, sizeof(**changes));
        for (size_t i = 0; i < n; i++)
            (*changes)[i] = (Apiplatform__V1__Change *)ap_msg_dup(&cs[i]->base);
        *n_changes = n;
    }
    char *err = NULL;
    rev = cp_txn_commit(t, &err);
    if (rev == 0) {
        ap_status_set(st, GRPC_STATUS_INTERNAL, "store write failed: %s", err);
        free(err);
        if (changes != NULL) {
            for (size_t i = 0; i < *n_changes; i++)
                ap_msg_free(&(*changes)[i]->base);
            free(*changes);
            *changes = NULL;
            *n_changes = 0;
        }
    }
out:
    ap_msg_free(m);
    return rev;
}
