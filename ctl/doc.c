/* YAML and JSON documents: files in as libyaml node trees, so the bundle and
 * OpenAPI readers walk one kind of tree and point at lines; documents out
 * from jansson values, as YAML through libyaml's emitter or as JSON. */
#include "bundle.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Plain scalars YAML 1.1 reads as null or a boolean: a string spelled so is
 * written quoted. */
static const char *const typed_words[] = {"~",    "null", "Null", "NULL",  "y",     "Y",     "yes",
                                          "Yes",  "YES",  "n",    "N",     "no",    "No",    "NO",
                                          "true", "True", "TRUE", "false", "False", "FALSE", "on",
                                          "On",   "ON",   "off",  "Off",   "OFF"};

static int vfail_at(ap_status_t *st, const char *name, size_t line, const char *path,
                    const char *fmt, va_list ap)
{
    char where[256], what[256];
    if (line > 0)
        snprintf(where, sizeof(where), "%s:%zu", name, line);
    else
        snprintf(where, sizeof(where), "%s", name);
    vsnprintf(what, sizeof(what), fmt, ap);
    ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: %s%s%s", where, path, *path ? ": " : "",
                  what);
    return -1;
}

static int fail_at(ap_status_t *st, const char *name, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(ap_status_t *st, const char *name, size_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(st, name, line, "", fmt, ap);
    va_end(ap);
    return -1;
}

int ctl_doc_fail(ap_status_t *st, const ctl_doc_t *d, const yaml_node_t *at, const char *path,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(st, d->name, d->lines && at != NULL ? at->start_mark.line + 1 : 0, path, fmt, ap);
    va_end(ap);
    return -1;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int is_json(const char *name, const char *text, size_t len)
{
    size_t i = 0;
    if (has_suffix(name, ".json")) return 1;
    if (has_suffix(name, ".yaml") || has_suffix(name, ".yml")) return 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    return i < len && (text[i] == '{' || text[i] == '[');
}

static int add_scalar(yaml_document_t *doc, const char *s, size_t len, yaml_scalar_style_t style)
{
    return yaml_document_add_scalar(doc, NULL, (yaml_char_t *)s, (int)len, style);
}

/* A JSON value into doc; returns its node id. Strings are quoted scalars,
 * numbers, booleans and null plain ones, as YAML would read them. */
static int add_json(yaml_document_t *doc, json_t *j)
{
    const char *key;
    json_t *v;
    size_t i;
    int id;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        id = yaml_document_add_mapping(doc, NULL, YAML_ANY_MAPPING_STYLE);
        json_object_foreach(j, key, v)
        {
            int k = add_scalar(doc, key, strlen(key), YAML_DOUBLE_QUOTED_SCALAR_STYLE);
            yaml_document_append_mapping_pair(doc, id, k, add_json(doc, v));
        }
        return id;
    case JSON_ARRAY:
        id = yaml_document_add_sequence(doc, NULL, YAML_ANY_SEQUENCE_STYLE);
        json_array_foreach(j, i, v) yaml_document_append_sequence_item(doc, id, add_json(doc, v));
        return id;
    case JSON_STRING:
        return add_scalar(doc, json_string_value(j), json_string_length(j),
                          YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    default: {
        char *text = json_dumps(j, JSON_ENCODE_ANY);
        id = add_scalar(doc, text, strlen(text), YAML_PLAIN_SCALAR_STYLE);
        free(text);
        return id;
    }
    }
}

static int parse_json(ctl_doc_t *d, const char *text, size_t len, ap_status_t *st)
{
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (j == NULL) return fail_at(st, d->name, e.line > 0 ? (size_t)e.line : 0, "%s", e.text);
    yaml_document_initialize(&d->doc, NULL, NULL, NULL, 1, 1);
    add_json(&d->doc, j);
    json_decref(j);
    return 0;
}

static int parse_yaml(ctl_doc_t *d, const char *text, size_t len, ap_status_t *st)
{
    yaml_parser_t p;
    yaml_document_t next;
    int rc = 0;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &d->doc)) {
        rc = fail_at(st, d->name, p.problem_mark.line + 1, "%s%s%s", p.problem,
                     p.context ? " " : "", p.context ? p.context : "");
        memset(&d->doc, 0, sizeof(d->doc));
    } else if (!yaml_parser_load(&p, &next)) {
        rc = fail_at(st, d->name, p.problem_mark.line + 1, "%s", p.problem);
    } else {
        /* a second document would be silently ignored: say so instead */
        if (yaml_document_get_root_node(&next) != NULL)
            rc = fail_at(st, d->name, yaml_document_get_root_node(&next)->start_mark.line + 1,
                         "more than one YAML document");
        yaml_document_delete(&next);
    }
    yaml_parser_delete(&p);
    d->lines = 1;
    return rc;
}

int ctl_doc_parse(ctl_doc_t *d, const char *name, const char *text, size_t len, ap_status_t *st)
{
    memset(d, 0, sizeof(*d));
    d->name = strdup(strcmp(name, "-") == 0 ? "stdin" : name);
    if ((is_json(name, text, len) ? parse_json(d, text, len, st) : parse_yaml(d, text, len, st)) !=
            0 ||
        (ctl_doc_root(d) == NULL && fail_at(st, d->name, 0, "empty document") != 0)) {
        ctl_doc_free(d);
        return -1;
    }
    return 0;
}

int ctl_doc_load(ctl_doc_t *d, const char *file, ap_status_t *st)
{
    FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb"), *mem;
    char buf[65536], *text = NULL;
    size_t n, len = 0;
    int rc;
    if (in == NULL) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "cannot read %s: %s", file,
                      strerror(errno));
        return -1;
    }
    mem = open_memstream(&text, &len);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(mem);
    if (ferror(in)) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "cannot read %s: %s", file,
                      strerror(errno));
        rc = -1;
    } else {
        rc = ctl_doc_parse(d, file, text, len, st);
    }
    if (in != stdin) fclose(in);
    free(text);
    return rc;
}

void ctl_doc_free(ctl_doc_t *d)
{
    if (d->doc.nodes.start != NULL) yaml_document_delete(&d->doc);
    free(d->name);
    memset(d, 0, sizeof(*d));
}

yaml_node_t *ctl_doc_root(ctl_doc_t *d)
{
    return d->doc.nodes.start != NULL ? yaml_document_get_root_node(&d->doc) : NULL;
}

yaml_node_t *ctl_doc_get(ctl_doc_t *d, const yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&d->doc, p->value);
    }
    return NULL;
}

const char *ctl_doc_text(const yaml_node_t *n)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE) return NULL;
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (*s == '\0' || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0))
        return NULL;
    return s;
}

/* Whether YAML would read the plain scalar s as something else than this
 * string: null, a boolean, a number (or a date, 1:20, .inf: anything that
 * starts like one is quoted, which costs nothing). */
static int reads_as_other(const char *s)
{
    const char *p = s + (*s == '-' || *s == '+');
    for (size_t i = 0; i < sizeof(typed_words) / sizeof(typed_words[0]); i++)
        if (strcmp(s, typed_words[i]) == 0) return 1;
    return *s == '\0' || isdigit((unsigned char)*p) || *p == '.';
}

static int emit_string(yaml_emitter_t *em, const char *s, size_t len)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, !reads_as_other(s), 1,
                                 memchr(s, '\n', len) ? YAML_LITERAL_SCALAR_STYLE
                                                      : YAML_ANY_SCALAR_STYLE);
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

/* Block collections, except empty ones ("[]", "{}"), which block style
 * cannot write. */
static int emit_json(yaml_emitter_t *em, json_t *j)
{
    yaml_event_t ev;
    const char *key;
    json_t *v;
    size_t i;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                            json_object_size(j) ? YAML_BLOCK_MAPPING_STYLE
                                                                : YAML_FLOW_MAPPING_STYLE);
        if (!yaml_emitter_emit(em, &ev)) return -1;
        json_object_foreach(j, key, v)
        {
            if (emit_string(em, key, strlen(key)) != 0 || emit_json(em, v) != 0) return -1;
        }
        yaml_mapping_end_event_initialize(&ev);
        break;
    case JSON_ARRAY:
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                             json_array_size(j) ? YAML_BLOCK_SEQUENCE_STYLE
                                                                : YAML_FLOW_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev)) return -1;
        json_array_foreach(j, i, v)
        {
            if (emit_json(em, v) != 0) return -1;
        }
        yaml_sequence_end_event_initialize(&ev);
        break;
    case JSON_STRING:
        return emit_string(em, json_string_value(j), json_string_length(j));
    default: {
        char *text = json_dumps(j, JSON_ENCODE_ANY);
        yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, -1, 1, 1,
                                     YAML_PLAIN_SCALAR_STYLE);
        free(text);
    }
    }
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int write_yaml(FILE *out, json_t *j)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    int ok;
    yaml_emitter_initialize(&em);
    yaml_emitter_set_output_file(&em, out);
    yaml_emitter_set_unicode(&em, 1);
    /* never fold long lines (URLs, descriptions) */
    yaml_emitter_set_width(&em, -1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev) && emit_json(&em, j) == 0;
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_emitter_delete(&em);
    return ok ? 0 : -1;
}

int ctl_doc_write(FILE *out, const json_t *j, int yaml, ap_status_t *st)
{
    errno = 0;
    int rc = yaml ? write_yaml(out, (json_t *)j)
                  : json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!yaml && rc == 0) fputc('\n', out);
    if (rc != 0 || fflush(out) != 0 || ferror(out)) {
        ap_status_set(st, GRPC_STATUS_INTERNAL, "cannot write the document: %s",
                      errno ? strerror(errno) : "encoding failed");
        return -1;
    }
    return 0;
}
