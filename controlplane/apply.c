/* Apply and Export (see apply.h). Apply loads every stored resource, builds
 * the wanted state of each bundle resource exactly as Create would (fresh
 * message, references by name, defaults, validation), pairs it with the
 * stored one by (parent, name), and compares field by field; with prune,
 * stored resources the selector owns and the bundle lacks are deleted with
 * their children. The final state is checked as a whole (unique keys,
 * references) before one WriteBatch writes it. */
#include "apply.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_msg.h"
#include "resource.h"
#include "validate.h"

enum { OP_NONE, OP_CREATE, OP_UPDATE, OP_DELETE };

typedef struct st_item_t {
    const cp_kind_t *k;
    ProtobufCMessage *cur;  /* stored, or NULL */
    ProtobufCMessage *want; /* wanted, or NULL (unchanged or deleted) */
    int op;
    int in_bundle;
    char where[128]; /* "collections[2].endpoints[0]" for errors */
    Apiplatform__V1__PlanChange *plan;
} item_t;

typedef struct {
    item_t *v;
    size_t n, cap;
} items_t;

typedef struct {
    cp_store_t *s;
    const Apiplatform__V1__ApplyRequest *req;
    items_t kinds[6]; /* indexed like cp_kinds */
    ap_status_t *st;
} apply_t;

static size_t kind_index(const cp_kind_t *k)
{
    size_t i = 0;
    while (cp_kinds[i] != k)
        i++;
    return i;
}

static item_t *add_item(apply_t *a, const cp_kind_t *k)
{
    items_t *it = &a->kinds[kind_index(k)];
    if (it->n == it->cap) {
        it->cap = it->cap ? it->cap * 2 : 64;
        it->v = realloc(it->v, it->cap * sizeof(*it->v));
    }
    item_t *x = &it->v[it->n++];
    memset(x, 0, sizeof(*x));
    x->k = k;
    return x;
}

static const ProtobufCMessage *final_of(const item_t *x)
{
    if (x->op == OP_DELETE) return NULL;
    return x->want ? x->want : x->cur;
}

static const char *parent_id(const item_t *x)
{
    const ProtobufCMessage *m = final_of(x) ? final_of(x) : x->cur;
    return x->k->parent_field ? ap_msg_get_str(m, x->k->parent_field) : "";
}

/* The item of kind k named name under parent (id), in the final state or
 * stored; NULL if none. */
static item_t *find(apply_t *a, const cp_kind_t *k, const char *pid, const char *name)
{
    items_t *it = &a->kinds[kind_index(k)];
    for (size_t i = 0; i < it->n; i++) {
        item_t *x = &it->v[i];
        const ProtobufCMessage *m = x->want ? x->want : x->cur;
        if (strcmp(ap_msg_get_str(m, "name"), name) == 0 && strcmp(parent_id(x), pid) == 0)
            return x;
    }
    return NULL;
}

static item_t *find_id(apply_t *a, const cp_kind_t *k, const char *id)
{
    items_t *it = &a->kinds[kind_index(k)];
    for (size_t i = 0; i < it->n; i++) {
        const ProtobufCMessage *m = it->v[i].want ? it->v[i].want : it->v[i].cur;
        if (strcmp(ap_msg_get_str(m, "id"), id) == 0) return &it->v[i];
    }
    return NULL;
}

static void load_one(void *ctx, ProtobufCMessage *m)
{
    void **c = ctx;
    item_t *x = add_item(c[0], c[1]);
    x->cur = ap_msg_dup(m);
}

/* Every stored resource, of every kind, as an item with cur set. */
static void load_all(apply_t *a)
{
    for (size_t ki = 0; cp_kinds[ki]; ki++) {
        void *ctx[2] = {a, (void *)cp_kinds[ki]};
        cp_res_each(a->s, cp_kinds[ki], load_one, ctx);
    }
}

/* ---- labels and selectors ---- */

static int has_labels(const ProtobufCMessage *m, Apiplatform__V1__Label *const *sel, size_t n)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "labels");
    if (fd == NULL) return n == 0;
    size_t cnt = *(size_t *)((char *)m + fd->quantifier_offset);
    Apiplatform__V1__Label **l = *(Apiplatform__V1__Label ***)((char *)m + fd->offset);
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < cnt && !found; j++)
            found = !strcmp(l[j]->key, sel[i]->key) && !strcmp(l[j]->value, sel[i]->value);
        if (!found) return 0;
    }
    return 1;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp((*(Apiplatform__V1__Label *const *)a)->key,
                  (*(Apiplatform__V1__Label *const *)b)->key);
}

/* Sorts labels by key and checks them. */
static int check_labels(ProtobufCMessage *m, const char *where, ap_status_t *st)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "labels");
    size_t cnt = *(size_t *)((char *)m + fd->quantifier_offset);
    Apiplatform__V1__Label **l = *(Apiplatform__V1__Label ***)((char *)m + fd->offset);
    qsort(l, cnt, sizeof(*l), cmp_label);
    for (size_t i = 0; i < cnt; i++) {
        size_t kl = strlen(l[i]->key);
        int bad = kl == 0 || kl > 63 || strlen(l[i]->value) > 63;
        for (const char *c = l[i]->key; *c && !bad; c++)
            bad = !((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("-_./", *c));
        if (bad)
            return ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                                 "%s.labels: key \"%s\" must be 1-63 of a-z 0-9 - _ . / and its "
                                 "value at most 63 characters",
                                 where, l[i]->key),
                   -1;
        if (i > 0 && strcmp(l[i - 1]->key, l[i]->key) == 0)
            return ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                                 "%s.labels: key \"%s\" appears twice", where, l[i]->key),
                   -1;
    }
    return 0;
}

/* ---- building the wanted state ---- */

/* Resolves a name reference (of kind target) into an id in the final state. */
static int resolve_name(apply_t *a, const cp_kind_t *target, const char *name, char *id,
                        const char *where, const char *field)
{
    item_t *x = find(a, target, "", name);
    if (x == NULL || final_of(x) == NULL) {
        ap_status_set(a->st, GRPC_STATUS_NOT_FOUND, "%s.%s: %s \"%s\" not found", where, field,
                      target->name, name);
        return -1;
    }
    snprintf(id, 64, "%s", ap_msg_get_str(final_of(x), "id"));
    return 0;
}

/* The wanted state of one bundle resource under parent pid (an id, "" for
 * top-level kinds). Pairs it with the stored one. */
static item_t *want(apply_t *a, const cp_kind_t *k, const ProtobufCMessage *in, const char *pid,
                    const char *where)
{
    ap_status_t *st = a->st;
    if (in == NULL || in->descriptor != k->desc) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: missing", where);
        return NULL;
    }
    ProtobufCMessage *m = ap_msg_new(k->desc);
    char err[256];
    for (unsigned i = 0; i < k->desc->n_fields; i++) {
        const char *f = k->desc->fields[i].name;
        if (cp_res_output_only(f) || (k->parent_field && strcmp(f, k->parent_field) == 0)) continue;
        if (ap_msg_copy_field(m, in, f, err, sizeof(err)) != 0) {
            ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s.%s: %s", where, f, err);
            goto fail;
        }
    }
    if (k->parent_field) ap_msg_set_str(m, k->parent_field, pid);
    if (check_labels(m, where, st) != 0) goto fail;
    if (!has_labels(m, a->req->selector, a->req->n_selector)) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "%s: lacks the selector's labels, so this apply does not own it", where);
        goto fail;
    }
    k->defaults(m);
    if (k->validate(m, st) != 0) {
        ap_status_prefix(st, "%s", where);
        goto fail;
    }
    item_t *x = find(a, k, pid, ap_msg_get_str(m, "name"));
    if (x != NULL && x->in_bundle) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "%s.name: \"%s\" appears twice in the bundle", where,
                      ap_msg_get_str(m, "name"));
        goto fail;
    }
    if (x == NULL) x = add_item(a, k);
    x->in_bundle = 1;
    snprintf(x->where, sizeof(x->where), "%s", where);
    if (x->cur != NULL) {
        /* the server-set fields stay as stored */
        for (unsigned i = 0; i < k->desc->n_fields; i++)
            if (cp_res_output_only(k->desc->fields[i].name))
                ap_msg_copy_field(m, x->cur, k->desc->fields[i].name, err, sizeof(err));
    } else {
        char id[64];
        cp_res_new_id(k, id);
        ap_msg_set_str(m, "id", id);
    }
    x->want = m;
    return x;
fail:
    ap_msg_free(m);
    return NULL;
}

/* Profiles name collections and a policy: turn the names into ids. */
static int resolve_profile(apply_t *a, item_t *x)
{
    ProtobufCMessage *m = x->want;
    char id[64];
    for (size_t i = 0; i < ap_msg_count(m, "collection_ids"); i++) {
        if (resolve_name(a, &CP_KIND_COLLECTION, ap_msg_get_str_at(m, "collection_ids", i), id,
                         x->where, "collections") != 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(ap_msg_get_str_at(m, "collection_ids", j), id) == 0)
                return ap_status_set(a->st, GRPC_STATUS_INVALID_ARGUMENT,
                                     "%s.collections: \"%s\" is listed twice", x->where,
                                     ap_msg_get_str_at(m, "collection_ids", i)),
                       -1;
        ap_msg_set_str_at(m, "collection_ids", i, id);
    }
    const char *pol = ap_msg_get_str(m, "policy_id");
    if (pol[0] != '\0') {
        if (resolve_name(a, &CP_KIND_POLICY, pol, id, x->where, "policy") != 0) return -1;
        ap_msg_set_str(m, "policy_id", id);
    }
    return 0;
}

/* ---- comparing ---- */

/* Repeated strings that hold the same set keep the stored order. */
static void keep_order(ProtobufCMessage *w, const ProtobufCMessage *c, const char *field)
{
    size_t n = ap_msg_count(w, field);
    if (n != ap_msg_count(c, field)) return;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < n && !found; j++)
            found = !strcmp(ap_msg_get_str_at(w, field, i), ap_msg_get_str_at(c, field, j));
        if (!found) return;
    }
    for (size_t i = 0; i < n; i++)
        ap_msg_set_str_at(w, field, i, ap_msg_get_str_at(c, field, i));
}

/* json_equal, but two absent values are equal too. */
static int same(json_t *a, json_t *b)
{
    return (a == NULL && b == NULL) || json_equal(a, b);
}

static Apiplatform__V1__PlanChange *plan_new(int op, const item_t *x, apply_t *a)
{
    Apiplatform__V1__PlanChange *p =
        (Apiplatform__V1__PlanChange *)ap_msg_new(&apiplatform__v1__plan_change__descriptor);
    static const Apiplatform__V1__ChangeOp OPS[] = {
        APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UNSPECIFIED,
        APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_CREATE, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE,
        APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE};
    p->op = OPS[op];
    const ProtobufCMessage *m = x->want ? x->want : x->cur;
    ap_msg_set_str(&p->base, "kind", x->k->name);
    ap_msg_set_str(&p->base, "name", ap_msg_get_str(m, "name"));
    if (x->k->parent) {
        item_t *par = find_id(a, x->k->parent, parent_id(x));
        if (par != NULL)
            ap_msg_set_str(&p->base, "parent",
                           ap_msg_get_str(par->want ? par->want : par->cur, "name"));
    }
    return p;
}

/* Decides create / update (with the differing fields) / nothing. */
static void compare(apply_t *a, item_t *x)
{
    if (x->want == NULL) return;
    if (x->cur == NULL) {
        x->op = OP_CREATE;
        x->plan = plan_new(OP_CREATE, x, a);
        return;
    }
    for (unsigned i = 0; i < x->k->desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &x->k->desc->fields[i];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED && fd->type == PROTOBUF_C_TYPE_STRING)
            keep_order(x->want, x->cur, fd->name);
    }
    json_t *w = ap_msg_to_json(x->want), *c = ap_msg_to_json(x->cur);
    for (unsigned i = 0; i < x->k->desc->n_fields; i++) {
        const char *f = x->k->desc->fields[i].name;
        if (cp_res_output_only(f) || same(json_object_get(w, f), json_object_get(c, f))) continue;
        if (x->plan == NULL) x->plan = plan_new(OP_UPDATE, x, a);
        Apiplatform__V1__PlanChange *p = x->plan;
        p->fields = realloc(p->fields, (p->n_fields + 1) * sizeof(*p->fields));
        p->fields[p->n_fields++] = strdup(f);
    }
    json_decref(w);
    json_decref(c);
    if (x->plan != NULL)
        x->op = OP_UPDATE;
    else {
        ap_msg_free(x->want);
        x->want = NULL;
    }
}

/* Marks x and everything under it for deletion. */
static void delete_tree(apply_t *a, item_t *x)
{
    if (x->op == OP_DELETE || x->cur == NULL) return;
    x->op = OP_DELETE;
    x->plan = x->plan ? x->plan : plan_new(OP_DELETE, x, a);
    if (x->want) {
        ap_msg_free(x->want);
        x->want = NULL;
    }
    const char *id = ap_msg_get_str(x->cur, "id");
    for (size_t ki = 0; cp_kinds[ki]; ki++) {
        if (cp_kinds[ki]->parent != x->k) continue;
        items_t *it = &a->kinds[ki];
        for (size_t i = 0; i < it->n; i++)
            if (it->v[i].cur &&
                !strcmp(ap_msg_get_str(it->v[i].cur, cp_kinds[ki]->parent_field), id))
                delete_tree(a, &it->v[i]);
    }
}

/* ---- the final state ---- */

static int check_final(apply_t *a)
{
    /* unique keys per kind and parent */
    for (size_t ki = 0; cp_kinds[ki]; ki++) {
        items_t *it = &a->kinds[ki];
        size_t nk = 0, cap = 0;
        char(*seen)[CP_KEY_MAX + 80] = NULL;
        const item_t **owner = NULL;
        for (size_t i = 0; i < it->n; i++) {
            const ProtobufCMessage *m = final_of(&it->v[i]);
            if (m == NULL) continue;
            char keys[CP_MAX_KEYS][CP_KEY_MAX];
            size_t n = cp_kinds[ki]->keys(m, keys);
            for (size_t j = 0; j < n; j++) {
                char full[CP_KEY_MAX + 80];
                cp_res_index_key(full, sizeof(full), cp_kinds[ki], parent_id(&it->v[i]), keys[j]);
                for (size_t q = 0; q < nk; q++) {
                    if (strcmp(seen[q], full) == 0) {
                        const item_t *o = owner[q];
                        char *colon = strchr(keys[j], ':');
                        *colon = '\0';
                        ap_status_set(a->st, GRPC_STATUS_ALREADY_EXISTS,
                                      "%s: %s %s \"%s\" is also used by %s \"%s\"",
                                      it->v[i].where[0] ? it->v[i].where : cp_kinds[ki]->name,
                                      cp_kinds[ki]->name, keys[j], colon + 1,
                                      o->where[0] ? o->where : "stored",
                                      ap_msg_get_str(final_of(o), "name"));
                        free(seen);
                        free(owner);
                        return -1;
                    }
                }
                if (nk == cap) {
                    cap = cap ? cap * 2 : 64;
                    seen = realloc(seen, cap * sizeof(*seen));
                    owner = realloc(owner, cap * sizeof(*owner));
                }
                snprintf(seen[nk], sizeof(seen[nk]), "%s", full);
                owner[nk++] = &it->v[i];
            }
        }
        free(seen);
        free(owner);
    }
    /* references must point at something that stays */
    for (size_t ki = 0; cp_kinds[ki]; ki++) {
        const cp_kind_t *k = cp_kinds[ki];
        for (size_t r = 0; r < k->n_refs; r++) {
            items_t *it = &a->kinds[ki];
            for (size_t i = 0; i < it->n; i++) {
                const ProtobufCMessage *m = final_of(&it->v[i]);
                if (m == NULL) continue;
                const ProtobufCFieldDescriptor *fd = ap_msg_field(k->desc, k->refs[r].field);
                size_t n = fd->label == PROTOBUF_C_LABEL_REPEATED ? ap_msg_count(m, fd->name) : 1;
                for (size_t j = 0; j < n; j++) {
                    const char *id = fd->label == PROTOBUF_C_LABEL_REPEATED
                                         ? ap_msg_get_str_at(m, fd->name, j)
                                         : ap_msg_get_str(m, fd->name);
                    if (id[0] == '\0') continue;
                    item_t *t = find_id(a, k->refs[r].target, id);
                    if (t == NULL || final_of(t) == NULL)
                        return ap_status_set(a->st, GRPC_STATUS_FAILED_PRECONDITION,
                                             "%s \"%s\" still uses %s %s, which this apply "
                                             "deletes; change or prune it too",
                                             k->name, ap_msg_get_str(m, "name"),
                                             k->refs[r].target->name,
                                             t ? ap_msg_get_str(t->cur, "name") : id),
                               -1;
                }
            }
        }
    }
    return 0;
}

/* ---- writing ---- */

static void write_item(cp_txn_t *t, item_t *x, int64_t now)
{
    char key[CP_KEY_MAX + 80], keys[CP_MAX_KEYS][CP_KEY_MAX], old[CP_MAX_KEYS][CP_KEY_MAX];
    const cp_kind_t *k = x->k;
    size_t nn = x->op == OP_DELETE ? 0 : k->keys(x->want, keys);
    size_t no = x->cur ? k->keys(x->cur, old) : 0;
    const ProtobufCMessage *m = x->op == OP_DELETE ? x->cur : x->want;
    const char *id = ap_msg_get_str(m, "id");
    const char *old_pid = x->cur && k->parent_field ? ap_msg_get_str(x->cur, k->parent_field) : "";
    const char *new_pid = nn && k->parent_field ? ap_msg_get_str(x->want, k->parent_field) : "";
    for (size_t j = 0; j < no; j++) {
        int keep = 0;
        for (size_t i = 0; i < nn; i++)
            keep |= strcmp(keys[i], old[j]) == 0 && strcmp(old_pid, new_pid) == 0;
        if (!keep) {
            cp_res_index_key(key, sizeof(key), k, old_pid, old[j]);
            cp_txn_del(t, key);
        }
    }
    cp_res_key(key, sizeof(key), k, id);
    if (x->op == OP_DELETE) {
        cp_txn_del(t, key);
        cp_txn_change(t, k->name, id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE);
        return;
    }
    for (size_t i = 0; i < nn; i++) {
        char ik[CP_KEY_MAX + 80];
        cp_res_index_key(ik, sizeof(ik), k, new_pid, keys[i]);
        cp_txn_put(t, ik, id, strlen(id));
    }
    if (x->op == OP_CREATE) ap_msg_set_u64(x->want, "create_time", (uint64_t)now);
    ap_msg_set_u64(x->want, "update_time", (uint64_t)now);
    ap_msg_set_u64(x->want, "revision", cp_txn_revision(t));
    cp_txn_put_msg(t, key, x->want);
    cp_txn_change(t, k->name, id,
                  x->op == OP_CREATE ? APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_CREATE
                                     : APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE);
}

static void add_plan(Apiplatform__V1__ApplyResponse *r, Apiplatform__V1__PlanChange *p)
{
    r->changes = realloc(r->changes, (r->n_changes + 1) * sizeof(*r->changes));
    r->changes[r->n_changes++] = p;
}

static void apply_free(apply_t *a)
{
    for (size_t ki = 0; ki < 6; ki++) {
        for (size_t i = 0; i < a->kinds[ki].n; i++) {
            ap_msg_free(a->kinds[ki].v[i].cur);
            ap_msg_free(a->kinds[ki].v[i].want);
            if (a->kinds[ki].v[i].plan) ap_msg_free(&a->kinds[ki].v[i].plan->base);
        }
        free(a->kinds[ki].v);
    }
}

/* Settings: the bundle's replace the stored ones when given. */
static int want_settings(apply_t *a, Apiplatform__V1__Settings **cur_out,
                         Apiplatform__V1__Settings **want_out)
{
    const Apiplatform__V1__Settings *in = a->req->bundle->settings;
    *cur_out = *want_out = NULL;
    if (in == NULL) return 0;
    Apiplatform__V1__Settings *cur = (Apiplatform__V1__Settings *)cp_store_get_msg(
        a->s, "r/settings/settings", &apiplatform__v1__settings__descriptor);
    if (cur == NULL) {
        cur = (Apiplatform__V1__Settings *)ap_msg_new(&apiplatform__v1__settings__descriptor);
        ap_msg_set_str(&cur->base, "api_prefix", "api");
    }
    Apiplatform__V1__Settings *w = (Apiplatform__V1__Settings *)ap_msg_dup(&cur->base);
    char err[256];
    ap_msg_copy_field(&w->base, &in->base, "api_prefix", err, sizeof(err));
    ap_msg_copy_field(&w->base, &in->base, "custom_domains", err, sizeof(err));
    if (w->api_prefix[0] == '\0') ap_msg_set_str(&w->base, "api_prefix", "api");
    for (size_t i = 0; i < w->n_custom_domains; i++)
        for (char *c = w->custom_domains[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    if (cp_validate_settings(w, a->st) != 0) {
        ap_status_prefix(a->st, "settings");
        ap_msg_free(&cur->base);
        ap_msg_free(&w->base);
        return -1;
    }
    json_t *jw = ap_msg_to_json(&w->base), *jc = ap_msg_to_json(&cur->base);
    int unchanged =
        same(json_object_get(jw, "api_prefix"), json_object_get(jc, "api_prefix")) &&
        same(json_object_get(jw, "custom_domains"), json_object_get(jc, "custom_domains"));
    json_decref(jw);
    json_decref(jc);
    if (unchanged) {
        ap_msg_free(&w->base);
        ap_msg_free(&cur->base);
        return 0;
    }
    *cur_out = cur;
    *want_out = w;
    return 0;
}

Apiplatform__V1__ApplyResponse *cp_apply(cp_store_t *s, const Apiplatform__V1__ApplyRequest *req,
                                         const char *actor, ap_status_t *st)
{
    apply_t a = {s, req, {{0}}, st};
    Apiplatform__V1__Settings *scur = NULL, *swant = NULL;
    Apiplatform__V1__ApplyResponse *r = NULL;
    char where[128];
    if (req->bundle == NULL) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "bundle: is required");
        return NULL;
    }
    if (req->expected_revision != 0 && req->expected_revision != cp_store_revision(s)) {
        ap_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                      "expected_revision: the configuration is at revision %llu, not %llu; "
                      "diff again and retry",
                      (unsigned long long)cp_store_revision(s),
                      (unsigned long long)req->expected_revision);
        return NULL;
    }
    for (size_t i = 0; i < req->n_selector; i++)
        if (req->selector[i]->key[0] == '\0') {
            ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "selector: empty label key");
            return NULL;
        }
    load_all(&a);
    const Apiplatform__V1__Bundle *b = req->bundle;
    if (want_settings(&a, &scur, &swant) != 0) goto out;
    /* parents before children, referenced kinds before profiles */
    for (size_t i = 0; i < b->n_policies; i++) {
        snprintf(where, sizeof(where), "policies[%zu]", i);
        if (!want(&a, &CP_KIND_POLICY, &b->policies[i]->base, "", where)) goto out;
    }
    for (size_t i = 0; i < b->n_collections; i++) {
        const Apiplatform__V1__BundleCollection *bc = b->collections[i];
        snprintf(where, sizeof(where), "collections[%zu]", i);
        item_t *c =
            want(&a, &CP_KIND_COLLECTION, bc->collection ? &bc->collection->base : NULL, "", where);
        if (c == NULL) goto out;
        char cid[64];
        snprintf(cid, sizeof(cid), "%s", ap_msg_get_str(c->want, "id"));
        for (size_t j = 0; j < bc->n_endpoints; j++) {
            snprintf(where, sizeof(where), "collections[%zu].endpoints[%zu]", i, j);
            if (!want(&a, &CP_KIND_ENDPOINT, &bc->endpoints[j]->base, cid, where)) goto out;
        }
    }
    for (size_t i = 0; i < b->n_clients; i++) {
        const Apiplatform__V1__BundleClient *bc = b->clients[i];
        snprintf(where, sizeof(where), "clients[%zu]", i);
        item_t *c = want(&a, &CP_KIND_CLIENT, bc->client ? &bc->client->base : NULL, "", where);
        if (c == NULL) goto out;
        char cid[64];
        snprintf(cid, sizeof(cid), "%s", ap_msg_get_str(c->want, "id"));
        for (size_t j = 0; j < bc->n_profiles; j++) {
            snprintf(where, sizeof(where), "clients[%zu].profiles[%zu]", i, j);
            item_t *p = want(&a, &CP_KIND_PROFILE, &bc->profiles[j]->base, cid, where);
            if (p == NULL) goto out;
        }
    }
    if (req->prune) {
        /* what the selector owns and the bundle lacks goes, children along */
        for (size_t ki = 0; cp_kinds[ki]; ki++) {
            if (cp_kinds[ki] == &CP_KIND_TOKEN) continue;
            for (size_t i = 0; i < a.kinds[ki].n; i++) {
                item_t *x = &a.kinds[ki].v[i];
                if (!x->in_bundle && x->cur && has_labels(x->cur, req->selector, req->n_selector))
                    delete_tree(&a, x);
            }
        }
    }
    /* profiles name collections and policies that now all exist */
    for (size_t i = 0; i < a.kinds[kind_index(&CP_KIND_PROFILE)].n; i++) {
        item_t *x = &a.kinds[kind_index(&CP_KIND_PROFILE)].v[i];
        if (x->want != NULL && x->op != OP_DELETE && resolve_profile(&a, x) != 0) goto out;
    }
    for (size_t ki = 0; cp_kinds[ki]; ki++)
        for (size_t i = 0; i < a.kinds[ki].n; i++)
            if (a.kinds[ki].v[i].op != OP_DELETE) compare(&a, &a.kinds[ki].v[i]);
    if (check_final(&a) != 0) goto out;

    r = (Apiplatform__V1__ApplyResponse *)ap_msg_new(&apiplatform__v1__apply_response__descriptor);
    if (swant != NULL) {
        Apiplatform__V1__PlanChange *p =
            (Apiplatform__V1__PlanChange *)ap_msg_new(&apiplatform__v1__plan_change__descriptor);
        p->op = APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE;
        ap_msg_set_str(&p->base, "kind", "settings");
        ap_msg_set_str(&p->base, "name", "settings");
        json_t *jw = ap_msg_to_json(&swant->base), *jc = ap_msg_to_json(&scur->base);
        static const char *const FIELDS[] = {"api_prefix", "custom_domains"};
        for (size_t i = 0; i < 2; i++)
            if (!same(json_object_get(jw, FIELDS[i]), json_object_get(jc, FIELDS[i]))) {
                p->fields = realloc(p->fields, (p->n_fields + 1) * sizeof(*p->fields));
                p->fields[p->n_fields++] = strdup(FIELDS[i]);
            }
        json_decref(jw);
        json_decref(jc);
        add_plan(r, p);
    }
    /* plan order: creates and updates parents first, then deletes */
    for (int pass = 0; pass < 2; pass++)
        for (size_t ki = 0; cp_kinds[ki]; ki++)
            for (size_t i = 0; i < a.kinds[ki].n; i++) {
                item_t *x = &a.kinds[ki].v[i];
                if (x->plan && (pass == 0) == (x->op != OP_DELETE)) {
                    add_plan(r, (Apiplatform__V1__PlanChange *)ap_msg_dup(&x->plan->base));
                }
            }
    if (r->n_changes == 0 || req->dry_run) goto out;
    cp_txn_t *t = cp_txn_begin(s, actor);
    int64_t now = (int64_t)time(NULL);
    if (swant != NULL) {
        swant->revision = cp_txn_revision(t);
        swant->update_time = now;
        cp_txn_put_msg(t, "r/settings/settings", &swant->base);
        cp_txn_change(t, "settings", "settings", APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE);
    }
    for (size_t ki = 0; cp_kinds[ki]; ki++)
        for (size_t i = 0; i < a.kinds[ki].n; i++)
            if (a.kinds[ki].v[i].op != OP_NONE) write_item(t, &a.kinds[ki].v[i], now);
    char *err = NULL;
    r->revision = cp_txn_commit(t, &err);
    if (r->revision == 0) {
        ap_status_set(st, GRPC_STATUS_INTERNAL, "store write failed: %s", err);
        free(err);
        ap_msg_free(&r->base);
        r = NULL;
    }
out:
    if (scur) ap_msg_free(&scur->base);
    if (swant) ap_msg_free(&swant->base);
    apply_free(&a);
    return r;
}

/* ---- export ---- */

static ProtobufCMessage *exported(const ProtobufCMessage *m, const cp_kind_t *k)
{
    ProtobufCMessage *e = ap_msg_dup(m);
    for (unsigned i = 0; i < k->desc->n_fields; i++)
        if (cp_res_output_only(k->desc->fields[i].name)) ap_msg_clear(e, k->desc->fields[i].name);
    if (k->parent_field) ap_msg_clear(e, k->parent_field);
    return e;
}

Apiplatform__V1__Bundle *cp_export(cp_store_t *s, Apiplatform__V1__Label *const *sel, size_t nsel,
                                   ap_status_t *st)
{
    apply_t a = {s, NULL, {{0}}, st};
    load_all(&a);
    Apiplatform__V1__Bundle *b =
        (Apiplatform__V1__Bundle *)ap_msg_new(&apiplatform__v1__bundle__descriptor);
    if (nsel == 0)
        b->settings = (Apiplatform__V1__Settings *)cp_store_get_msg(
            s, "r/settings/settings", &apiplatform__v1__settings__descriptor);
    if (b->settings) {
        b->settings->revision = 0;
        b->settings->update_time = 0;
    }
    items_t *pol = &a.kinds[kind_index(&CP_KIND_POLICY)];
    for (size_t i = 0; i < pol->n; i++) {
        if (!has_labels(pol->v[i].cur, sel, nsel)) continue;
        b->policies = realloc(b->policies, (b->n_policies + 1) * sizeof(*b->policies));
        b->policies[b->n_policies++] =
            (Apiplatform__V1__AccessPolicy *)exported(pol->v[i].cur, &CP_KIND_POLICY);
    }
    items_t *col = &a.kinds[kind_index(&CP_KIND_COLLECTION)];
    items_t *ep = &a.kinds[kind_index(&CP_KIND_ENDPOINT)];
    for (size_t i = 0; i < col->n; i++) {
        if (!has_labels(col->v[i].cur, sel, nsel)) continue;
        Apiplatform__V1__BundleCollection *bc = (Apiplatform__V1__BundleCollection *)ap_msg_new(
            &apiplatform__v1__bundle_collection__descriptor);
        bc->collection =
            (Apiplatform__V1__Collection *)exported(col->v[i].cur, &CP_KIND_COLLECTION);
        const char *cid = ap_msg_get_str(col->v[i].cur, "id");
        for (size_t j = 0; j < ep->n; j++) {
            if (strcmp(ap_msg_get_str(ep->v[j].cur, "collection_id"), cid) != 0 ||
                !has_labels(ep->v[j].cur, sel, nsel))
                continue;
            bc->endpoints = realloc(bc->endpoints, (bc->n_endpoints + 1) * sizeof(*bc->endpoints));
            bc->endpoints[bc->n_endpoints++] =
                (Apiplatform__V1__Endpoint *)exported(ep->v[j].cur, &CP_KIND_ENDPOINT);
        }
        b->collections = realloc(b->collections, (b->n_collections + 1) * sizeof(*b->collections));
        b->collections[b->n_collections++] = bc;
    }
    items_t *cli = &a.kinds[kind_index(&CP_KIND_CLIENT)];
    items_t *prf = &a.kinds[kind_index(&CP_KIND_PROFILE)];
    for (size_t i = 0; i < cli->n; i++) {
        if (!has_labels(cli->v[i].cur, sel, nsel)) continue;
        Apiplatform__V1__BundleClient *bc = (Apiplatform__V1__BundleClient *)ap_msg_new(
            &apiplatform__v1__bundle_client__descriptor);
        bc->client = (Apiplatform__V1__Client *)exported(cli->v[i].cur, &CP_KIND_CLIENT);
        const char *cid = ap_msg_get_str(cli->v[i].cur, "id");
        for (size_t j = 0; j < prf->n; j++) {
            const ProtobufCMessage *p = prf->v[j].cur;
            if (strcmp(ap_msg_get_str(p, "client_id"), cid) != 0 || !has_labels(p, sel, nsel))
                continue;
            ProtobufCMessage *e = exported(p, &CP_KIND_PROFILE);
            /* references by name */
            for (size_t q = 0; q < ap_msg_count(e, "collection_ids"); q++) {
                item_t *t =
                    find_id(&a, &CP_KIND_COLLECTION, ap_msg_get_str_at(e, "collection_ids", q));
                if (t) ap_msg_set_str_at(e, "collection_ids", q, ap_msg_get_str(t->cur, "name"));
            }
            const char *pol_id = ap_msg_get_str(e, "policy_id");
            if (pol_id[0]) {
                item_t *t = find_id(&a, &CP_KIND_POLICY, pol_id);
                if (t) ap_msg_set_str(e, "policy_id", ap_msg_get_str(t->cur, "name"));
            }
            bc->profiles = realloc(bc->profiles, (bc->n_profiles + 1) * sizeof(*bc->profiles));
            bc->profiles[bc->n_profiles++] = (Apiplatform__V1__AccessProfile *)e;
        }
        b->clients = realloc(b->clients, (b->n_clients + 1) * sizeof(*b->clients));
        b->clients[b->n_clients++] = bc;
    }
    apply_free(&a);
    return b;
}
