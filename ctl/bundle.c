/* The bundle file format (apictl apply/diff/export): a configuration by
 * names, as YAML or JSON. One table of rows per object says, for each key,
 * which field of the Bundle message it is and how; the reader (document ->
 * Bundle) and the writer (Bundle -> JSON value, then YAML or JSON) both
 * walk the same rows, so the two directions cannot drift apart. */
#include "bundle.h"

#include "ap_msg.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef Apiplatform__V1__Label label_t;

typedef enum en_kind_t {
    SCALAR, /* one field, from the scalar's text (ap_msg_set_text) */
    LIST,   /* a repeated string field, from a list of scalars */
    LABELS, /* a repeated Label field, from a mapping, sorted by key */
    OBJECT, /* a message field, from a mapping of `rows` */
    ITEMS,  /* a repeated message field, from a list of mappings of `rows` */
} kind_t;

/* the key must be given (and, for text, not be empty) */
#define REQUIRED 1
/* exactly one of the rows so marked must be given */
#define ONE_OF 2

typedef struct st_row_t {
    /* key in the file; NULL ends a table */
    const char *key;
    kind_t kind;
    /* field of the object's message, dotted for nested messages */
    const char *path;
    /* OBJECT, ITEMS: the nested object's rows */
    const struct st_row_t *rows;
    int flags;
    /* "field=value" also set when the key is given (the target kind); the
     * writer writes the row only when it holds */
    const char *also;
    /* whether the value is what the server assumes when the key is left
     * out, so the writer leaves it out */
    int (*implied)(const ProtobufCMessage *m, const json_t *v);
} row_t;

/* A reading in progress: where errors point. */
typedef struct st_walk_t {
    ctl_doc_t *d;
    ap_status_t *st;
    /* "collections[0].endpoints[1]" */
    char path[256];
} walk_t;

/* active and enabled default to true */
static int is_true(const ProtobufCMessage *m, const json_t *v)
{
    return json_is_true(v);
}

/* an endpoint's name defaults to "METHOD path" */
static int is_method_path(const ProtobufCMessage *m, const json_t *v)
{
    const Apiplatform__V1__Endpoint *e = (const Apiplatform__V1__Endpoint *)m;
    const char *s = json_string_value(v);
    size_t n = strlen(e->method);
    return strncmp(s, e->method, n) == 0 && s[n] == ' ' && strcmp(s + n + 1, e->path) == 0;
}

/* an endpoint's upstream timeout defaults to 30 s */
static int is_default_timeout(const ProtobufCMessage *m, const json_t *v)
{
    return json_integer_value(v) == 30000;
}

static const row_t settings_rows[] = {
    {"api_prefix", SCALAR, "api_prefix"}, {"custom_domains", LIST, "custom_domains"}, {NULL}};

static const row_t limit_rows[] = {{"count", SCALAR, "count", NULL, REQUIRED},
                                   {"period", SCALAR, "period", NULL, REQUIRED},
                                   {NULL}};

static const row_t policy_rows[] = {
    {"name", SCALAR, "name", NULL, REQUIRED}, {"labels", LABELS, "labels"},
    {"description", SCALAR, "description"},   {"rate_limit", OBJECT, "rate_limit", limit_rows},
    {"quota", OBJECT, "quota", limit_rows},   {NULL}};

static const row_t static_rows[] = {{"status", SCALAR, "status", NULL, REQUIRED},
                                    {"content_type", SCALAR, "content_type"},
                                    {"body", SCALAR, "body"},
                                    {NULL}};

static const row_t endpoint_rows[] = {
    {"method", SCALAR, "method", NULL, REQUIRED},
    {"path", SCALAR, "path", NULL, REQUIRED},
    {"name", SCALAR, "name", NULL, 0, NULL, is_method_path},
    {"upstream", SCALAR, "target.url", NULL, ONE_OF, "target.kind=upstream"},
    {"static", OBJECT, "target", static_rows, ONE_OF, "target.kind=static"},
    {"active", SCALAR, "active"},
    {"timeout_ms", SCALAR, "timeout_ms", NULL, 0, NULL, is_default_timeout},
    {"cache_ttl_seconds", SCALAR, "cache_ttl_seconds"},
    {"description", SCALAR, "description"},
    {"labels", LABELS, "labels"},
    {NULL}};

static const row_t collection_rows[] = {
    {"name", SCALAR, "collection.name", NULL, REQUIRED},
    {"version", SCALAR, "collection.version", NULL, REQUIRED},
    {"description", SCALAR, "collection.description"},
    {"path", SCALAR, "collection.path"},
    {"active", SCALAR, "collection.active", NULL, 0, NULL, is_true},
    {"labels", LABELS, "collection.labels"},
    {"endpoints", ITEMS, "endpoints", endpoint_rows},
    {NULL}};

static const row_t profile_rows[] = {{"name", SCALAR, "name", NULL, REQUIRED},
                                     {"collections", LIST, "collection_ids"},
                                     {"policy", SCALAR, "policy_id"},
                                     {"ip_allow", LIST, "ip_allow"},
                                     {"enabled", SCALAR, "enabled", NULL, 0, NULL, is_true},
                                     {"description", SCALAR, "description"},
                                     {"labels", LABELS, "labels"},
                                     {NULL}};

static const row_t client_rows[] = {{"name", SCALAR, "client.name", NULL, REQUIRED},
                                    {"description", SCALAR, "client.description"},
                                    {"enabled", SCALAR, "client.enabled", NULL, 0, NULL, is_true},
                                    {"labels", LABELS, "client.labels"},
                                    {"profiles", ITEMS, "profiles", profile_rows},
                                    {NULL}};

static const row_t bundle_rows[] = {{"settings", OBJECT, "settings", settings_rows},
                                    {"policies", ITEMS, "policies", policy_rows},
                                    {"collections", ITEMS, "collections", collection_rows},
                                    {"clients", ITEMS, "clients", client_rows},
                                    {NULL}};

/* ---- message access along a row's path ---- */

static void *member(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (char *)m + f->offset;
}

/* The message holding the last field of `path`, and that field in *f.
 * Messages on the way are made when `create`, else NULL is returned at the
 * first absent one. */
static ProtobufCMessage *holder(ProtobufCMessage *m, const char *path, int create,
                                const ProtobufCFieldDescriptor **f)
{
    for (;;) {
        const char *dot = strchr(path, '.');
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(dot ? (size_t)(dot - path) : strlen(path)),
                 path);
        *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
        if (dot == NULL) return m;
        ProtobufCMessage **sub = member(m, *f);
        if (*sub == NULL) {
            if (!create) return NULL;
            *sub = ap_msg_new((*f)->descriptor);
        }
        m = *sub;
        path = dot + 1;
    }
}

ProtobufCMessage *ctl_msg_append(ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    size_t *n = (size_t *)((char *)m + f->quantifier_offset);
    ProtobufCMessage ***items = member(m, f);
    *items = realloc(*items, (*n + 1) * sizeof(**items));
    if (*items == NULL) abort();
    return (*items)[(*n)++] = ap_msg_new(f->descriptor);
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(label_t *const *)a)->key, (*(label_t *const *)b)->key);
}

/* ---- reading ---- */

static int fail(walk_t *w, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(walk_t *w, const yaml_node_t *at, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return ctl_doc_fail(w->st, w->d, at, w->path, "%s", what);
}

/* Appends ".key" or "[i]" to the path; returns the length to cut back to. */
static size_t push(walk_t *w, const char *key, size_t index)
{
    size_t len = strlen(w->path);
    if (key != NULL)
        snprintf(w->path + len, sizeof(w->path) - len, "%s%s", len ? "." : "", key);
    else
        snprintf(w->path + len, sizeof(w->path) - len, "[%zu]", index);
    return len;
}

static yaml_node_t *node(walk_t *w, int id)
{
    return yaml_document_get_node(&w->d->doc, id);
}

static int set_text(walk_t *w, const yaml_node_t *at, ProtobufCMessage *m, const char *path,
                    const char *text)
{
    char err[256];
    if (ap_msg_set_text(m, path, text, err, sizeof(err)) != 0) return fail(w, at, "%s", err);
    return 0;
}

static int read_object(walk_t *w, yaml_node_t *n, const row_t *rows, ProtobufCMessage *m);

static int read_labels(walk_t *w, yaml_node_t *n, ProtobufCMessage *m, const char *path)
{
    const ProtobufCFieldDescriptor *f;
    ProtobufCMessage *h = holder(m, path, 1, &f);
    size_t first = ap_msg_count(h, f->name), count;
    if (n->type != YAML_MAPPING_NODE) return fail(w, n, "expected a mapping of names to values");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(w, p->key), *v = node(w, p->value);
        if (ctl_doc_text(k) == NULL) return fail(w, k, "a label name must be a string");
        size_t cut = push(w, ctl_doc_text(k), 0);
        if (v->type != YAML_SCALAR_NODE) return fail(w, v, "expected a string");
        w->path[cut] = '\0';
        label_t *l = (label_t *)ctl_msg_append(h, f->name);
        ap_msg_set_str(&l->base, "key", ctl_doc_text(k));
        ap_msg_set_str(&l->base, "value", ctl_doc_text(v) ? ctl_doc_text(v) : "");
    }
    label_t **labels = *(label_t ***)member(h, f) + first;
    count = ap_msg_count(h, f->name) - first;
    qsort(labels, count, sizeof(*labels), by_key);
    for (size_t i = 1; i < count; i++)
        if (strcmp(labels[i - 1]->key, labels[i]->key) == 0)
            return fail(w, n, "label \"%s\" given twice", labels[i]->key);
    return 0;
}

/* One given key (its value not null). */
static int read_row(walk_t *w, const row_t *r, yaml_node_t *v, ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f;
    const char *text = ctl_doc_text(v);
    yaml_node_item_t *item;
    size_t cut, i = 0;

    switch (r->kind) {
    case SCALAR:
        if (v->type != YAML_SCALAR_NODE)
            return fail(w, v, "expected a single value, not a %s",
                        v->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
        if ((r->flags & REQUIRED) && *text == '\0') return fail(w, v, "must not be empty");
        if (set_text(w, v, m, r->path, text) != 0) return -1;
        break;
    case LIST:
        if (v->type != YAML_SEQUENCE_NODE) return fail(w, v, "expected a list");
        ap_msg_clear(m, r->path);
        for (item = v->data.sequence.items.start; item < v->data.sequence.items.top; item++, i++) {
            yaml_node_t *e = node(w, *item);
            cut = push(w, NULL, i);
            if (ctl_doc_text(e) == NULL) return fail(w, e, "expected a string");
            if (set_text(w, e, m, r->path, ctl_doc_text(e)) != 0) return -1;
            w->path[cut] = '\0';
        }
        break;
    case LABELS:
        if (read_labels(w, v, m, r->path) != 0) return -1;
        break;
    case OBJECT: {
        ProtobufCMessage *h = holder(m, r->path, 1, &f), **sub = member(h, f);
        if (*sub == NULL) *sub = ap_msg_new(f->descriptor);
        if (read_object(w, v, r->rows, *sub) != 0) return -1;
        break;
    }
    case ITEMS:
        if (v->type != YAML_SEQUENCE_NODE) return fail(w, v, "expected a list");
        for (item = v->data.sequence.items.start; item < v->data.sequence.items.top; item++, i++) {
            cut = push(w, NULL, i);
            if (read_object(w, node(w, *item), r->rows, ctl_msg_append(m, r->path)) != 0) return -1;
            w->path[cut] = '\0';
        }
        break;
    }
    if (r->also != NULL) {
        char path[64];
        const char *eq = strchr(r->also, '=');
        snprintf(path, sizeof(path), "%.*s", (int)(eq - r->also), r->also);
        return set_text(w, v, m, path, eq + 1);
    }
    return 0;
}

/* The keys of a table, for "unknown key" errors. */
static void key_list(const row_t *rows, int flags, const char *sep, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const row_t *r = rows; r->key != NULL && used < len; r++)
        if ((r->flags & flags) == flags)
            used += snprintf(buf + used, len - used, "%s%s", used ? sep : "", r->key);
}

static int read_object(walk_t *w, yaml_node_t *n, const row_t *rows, ProtobufCMessage *m)
{
    unsigned seen = 0, given = 0, one_of = 0;
    char keys[256];
    if (n->type != YAML_MAPPING_NODE) return fail(w, n, "expected a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(w, p->key), *v = node(w, p->value);
        const char *key = ctl_doc_text(k);
        const row_t *r = rows;
        while (r->key != NULL && (key == NULL || strcmp(r->key, key) != 0))
            r++;
        size_t cut = push(w, key ? key : "?", 0);
        if (r->key == NULL) {
            key_list(rows, 0, ", ", keys, sizeof(keys));
            return fail(w, k, "unknown key (expected %s)", keys);
        }
        unsigned bit = 1u << (r - rows);
        if (seen & bit) return fail(w, k, "given twice");
        seen |= bit;
        /* a null value ("key:" or "key: null") is the key left out */
        if (v->type != YAML_SCALAR_NODE || ctl_doc_text(v) != NULL) {
            given |= bit;
            if (read_row(w, r, v, m) != 0) return -1;
        }
        w->path[cut] = '\0';
    }
    for (const row_t *r = rows; r->key != NULL; r++) {
        unsigned bit = 1u << (r - rows);
        if ((r->flags & ONE_OF) && (given & bit)) one_of++;
        if ((r->flags & REQUIRED) && !(given & bit)) {
            size_t cut = push(w, r->key, 0);
            fail(w, n, "required");
            w->path[cut] = '\0';
            return -1;
        }
    }
    key_list(rows, ONE_OF, " or ", keys, sizeof(keys));
    if (keys[0] != '\0' && one_of != 1) return fail(w, n, "give exactly one of %s", keys);
    return 0;
}

int ctl_bundle_from_doc(ctl_doc_t *d, Apiplatform__V1__Bundle **out, ap_status_t *st)
{
    walk_t w = {d, st, ""};
    ProtobufCMessage *b = ap_msg_new(&apiplatform__v1__bundle__descriptor);
    if (read_object(&w, ctl_doc_root(d), bundle_rows, b) != 0) {
        ap_msg_free(b);
        return -1;
    }
    *out = (Apiplatform__V1__Bundle *)b;
    return 0;
}

int ctl_bundle_load(const char *file, Apiplatform__V1__Bundle **out, ap_status_t *st)
{
    ctl_doc_t d;
    int rc;
    if (ctl_doc_load(&d, file, st) != 0) return -1;
    rc = ctl_bundle_from_doc(&d, out, st);
    ctl_doc_free(&d);
    return rc;
}

/* ---- writing ---- */

/* Text as a JSON string. jansson takes UTF-8 only; a static body could be
 * other bytes, shown with those as '?' rather than lost. */
static json_t *text_json(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j == NULL) {
        char *ascii = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
            ascii[i] = (unsigned char)s[i] < 0x80 && s[i] != '\0' ? s[i] : '?';
        j = json_stringn(ascii, len);
        free(ascii);
    }
    return j;
}

static json_t *value_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *v = member(m, f);
    char buf[64];
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return text_json(*(char *const *)v, strlen(*(char *const *)v));
    case PROTOBUF_C_TYPE_BYTES:
        return text_json((const char *)((const ProtobufCBinaryData *)v)->data,
                         ((const ProtobufCBinaryData *)v)->len);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)v);
    case PROTOBUF_C_TYPE_ENUM:
        return json_string(ap_msg_enum_short(f->descriptor, *(const int *)v, buf, sizeof(buf)));
    default:
        return json_integer((json_int_t)ap_msg_get_u64(m, f->name));
    }
}

/* Whether the "field=value" of a row holds in m. */
static int also_holds(const ProtobufCMessage *m, const char *also)
{
    const ProtobufCFieldDescriptor *f;
    const char *eq = strchr(also, '=');
    char path[64];
    snprintf(path, sizeof(path), "%.*s", (int)(eq - also), also);
    const ProtobufCMessage *h = holder((ProtobufCMessage *)m, path, 0, &f);
    if (h == NULL) return 0;
    json_t *v = value_json(h, f);
    int holds = json_is_string(v) && strcasecmp(json_string_value(v), eq + 1) == 0;
    json_decref(v);
    return holds;
}

static json_t *write_object(const ProtobufCMessage *m, const row_t *rows);

/* A row's value, or NULL when it is left out. */
static json_t *write_row(const ProtobufCMessage *m, const row_t *r)
{
    const ProtobufCFieldDescriptor *f;
    const ProtobufCMessage *h = holder((ProtobufCMessage *)m, r->path, 0, &f);
    json_t *v;
    size_t n;
    if (h == NULL || !ap_msg_has(h, f->name) || (r->also != NULL && !also_holds(m, r->also)))
        return NULL;
    n = ap_msg_count(h, f->name);
    switch (r->kind) {
    case SCALAR:
        v = value_json(h, f);
        if (r->implied != NULL && r->implied(m, v)) {
            json_decref(v);
            return NULL;
        }
        return v;
    case LIST:
        v = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(v, json_string(ap_msg_get_str_at(h, f->name, i)));
        return v;
    case LABELS: {
        label_t **labels = malloc(n * sizeof(*labels));
        memcpy(labels, *(label_t * *const *)member(h, f), n * sizeof(*labels));
        qsort(labels, n, sizeof(*labels), by_key);
        v = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(v, labels[i]->key, json_string(labels[i]->value));
        free(labels);
        return v;
    }
    case OBJECT:
        return write_object(*(ProtobufCMessage *const *)member(h, f), r->rows);
    case ITEMS:
        v = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                v, write_object((*(ProtobufCMessage *const *const *)member(h, f))[i], r->rows));
        return v;
    }
    return NULL;
}

static json_t *write_object(const ProtobufCMessage *m, const row_t *rows)
{
    json_t *obj = json_object();
    for (const row_t *r = rows; r->key != NULL; r++) {
        json_t *v = write_row(m, r);
        if (v != NULL) json_object_set_new(obj, r->key, v);
    }
    return obj;
}

json_t *ctl_bundle_to_json(const Apiplatform__V1__Bundle *b)
{
    return write_object(&b->base, bundle_rows);
}
