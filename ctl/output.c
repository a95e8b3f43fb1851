/* Printing the Admin API's answers. -o json (or yaml) prints the response
 * message as a document (a list as one array of every page's items) for
 * pipelines; table mode is for people: "field: value" lines, a noun's list
 * table, a plan of changes or a one-line outcome, with enums by short name
 * and *_time fields as RFC 3339 UTC. An exported bundle is written in the
 * bundle file format instead, YAML unless -o json. */
#include "ctl.h"

#include "ap_msg.h"
#include "apiplatform/v1/admin.pb-c.h"
#include "bundle.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const ProtobufCMessage *ctl_sub(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED ||
        !ap_msg_has(m, name))
        return NULL;
    return *(ProtobufCMessage *const *)((const char *)m + f->offset);
}

/* The messages of a repeated message field ("items" of a list page). */
static ProtobufCMessage *const *repeated(const ProtobufCMessage *m, const char *name, size_t *n)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    *n = ap_msg_count(m, name);
    return *(ProtobufCMessage *const *const *)((const char *)m + f->offset);
}

/* The rows of a list answer: the repeated message field `name`, or with
 * NULL its first one ("items" of a page, "quotas" of ListQuotas). */
static ProtobufCMessage *const *list_rows(const ProtobufCMessage *m, const char *name, size_t *n)
{
    for (unsigned i = 0; name == NULL && i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE)
            name = f->name;
    }
    if (name != NULL) return repeated(m, name, n);
    *n = 0;
    return NULL;
}

static void put_time(FILE *out, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];
    if (t == 0)
        fputs("-", out);
    else if (gmtime_r(&tt, &tm) != NULL && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
        fputs(buf, out);
    else
        fprintf(out, "%" PRId64, t);
}

/* "time" and "*_time" fields are unix seconds */
static int is_time(const ProtobufCFieldDescriptor *f)
{
    size_t len = strlen(f->name);
    return strcmp(f->name, "time") == 0 || (len > 5 && strcmp(f->name + len - 5, "_time") == 0);
}

/* One value as people read it. */
static void put_value(FILE *out, const ProtobufCFieldDescriptor *f, const void *v)
{
    char buf[64];
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        fputs(*(char *const *)v, out);
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = v;
        if (b->len > 0) fwrite(b->data, 1, b->len, out);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        fputs(*(const protobuf_c_boolean *)v ? "true" : "false", out);
        break;
    case PROTOBUF_C_TYPE_ENUM:
        fputs(ap_msg_enum_short(f->descriptor, *(const int *)v, buf, sizeof(buf)), out);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        fprintf(out, "%g", *(const float *)v);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        fprintf(out, "%g", *(const double *)v);
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        fprintf(out, "%" PRId32, *(const int32_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        fprintf(out, "%" PRIu32, *(const uint32_t *)v);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (is_time(f))
            put_time(out, *(const int64_t *)v);
        else
            fprintf(out, "%" PRId64, *(const int64_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        fprintf(out, "%" PRIu64, *(const uint64_t *)v);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        json_t *j = ap_msg_to_json(*(ProtobufCMessage *const *)v);
        json_dumpf(j, out, JSON_COMPACT);
        json_decref(j);
        break;
    }
    }
}

/* A field's value; a string list comma-separated, as the flags take it. */
static void put_field(FILE *out, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        put_value(out, f, (const char *)m + f->offset);
    } else if (f->type == PROTOBUF_C_TYPE_STRING) {
        for (size_t i = 0; i < ap_msg_count(m, f->name); i++)
            fprintf(out, "%s%s", i > 0 ? "," : "", ap_msg_get_str_at(m, f->name, i));
    } else {
        /* other lists are rare in the API; JSON shows them exactly */
        json_t *j = ap_msg_to_json(m);
        json_dumpf(json_object_get(j, f->name), out, JSON_COMPACT);
        json_decref(j);
    }
}

/* A field's value as text (malloc'd); "" for an unselected oneof member. */
static char *field_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    char *s = NULL;
    size_t len;
    FILE *out = open_memstream(&s, &len);
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || ap_msg_has(m, f->name)) put_field(out, m, f);
    fclose(out);
    return s;
}

/* "field: value" lines; nested messages as "target.url: ...". */
static void print_fields(const ProtobufCMessage *m, const char *prefix)
{
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED) {
            const ProtobufCMessage *sub = ctl_sub(m, f->name);
            char nested[128];
            snprintf(nested, sizeof(nested), "%s%s.", prefix, f->name);
            if (sub != NULL) print_fields(sub, nested);
        } else if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || ap_msg_has(m, f->name)) {
            char *s = field_text(m, f);
            printf("%s%s:%s%s\n", prefix, f->name, s[0] ? " " : "", s);
            free(s);
        }
    }
}

/* A list cell: the column's own formatter or the field as `get` shows it;
 * "-" for nothing so columns stay countable. A field the item lacks is
 * taken from `outer`, the item it belongs to (a change's change set). */
static char *cell(const ctl_column_t *col, const ProtobufCMessage *item,
                  const ProtobufCMessage *outer)
{
    if (outer != NULL &&
        protobuf_c_message_descriptor_get_field_by_name(item->descriptor, col->path) == NULL)
        item = outer;
    char *s = col->cell != NULL ? col->cell(item, col->path)
                                : field_text(item, protobuf_c_message_descriptor_get_field_by_name(
                                                       item->descriptor, col->path));
    if (s != NULL && s[0] != '\0') return s;
    free(s);
    return strdup("-");
}

/* Characters, not bytes, so UTF-8 names keep the columns straight. */
static int display_width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* A row per item (of the repeated field `list`, NULL = the first) of every
 * page or, with `sub`, per element of that repeated field of every item (the
 * changes of each change set). */
static void print_table(const ctl_column_t *cols, ProtobufCMessage *const *pages, size_t npages,
                        const char *list, const char *sub)
{
    size_t ncols = 0, nrows = 1, r = 1, n, m;
    while (cols[ncols].header != NULL)
        ncols++;
    for (size_t p = 0; p < npages; p++) {
        ProtobufCMessage *const *items = list_rows(pages[p], list, &n);
        for (size_t i = 0; i < n; i++)
            nrows += sub ? ap_msg_count(items[i], sub) : 1;
    }
    char **cells = calloc(ncols * nrows, sizeof(*cells));
    int *width = calloc(ncols, sizeof(*width));

    for (size_t c = 0; c < ncols; c++)
        cells[c] = strdup(cols[c].header);
    for (size_t p = 0; p < npages; p++) {
        ProtobufCMessage *const *items = list_rows(pages[p], list, &n);
        for (size_t i = 0; i < n; i++) {
            ProtobufCMessage *const *rows = sub ? repeated(items[i], sub, &m) : &items[i];
            for (size_t j = 0; j < (sub ? m : 1); j++, r++)
                for (size_t c = 0; c < ncols; c++)
                    cells[r * ncols + c] = cell(&cols[c], rows[j], sub ? items[i] : NULL);
        }
    }
    for (size_t i = 0; i < ncols * nrows; i++)
        if (display_width(cells[i]) > width[i % ncols]) width[i % ncols] = display_width(cells[i]);
    for (size_t i = 0; i < ncols * nrows; i++) {
        size_t c = i % ncols;
        fputs(cells[i], stdout);
        if (c + 1 < ncols)
            printf("%*s", width[c] - display_width(cells[i]) + 2, "");
        else
            putchar('\n');
        free(cells[i]);
    }
    free(cells);
    free(width);
}

static int print_doc(const ctl_cli_t *cli, json_t *j, ap_status_t *st)
{
    int rc = ctl_doc_write(stdout, j, cli->yaml, st);
    json_decref(j);
    return rc;
}

/* One line per change: "~ update endpoint "GET /x" in "Sales API" (fields:
 * target, active)". */
static void print_plan(const Apiplatform__V1__ApplyResponse *r)
{
    static const char *const signs[] = {"?", "+", "~", "-"};
    char op[16];
    for (size_t i = 0; i < r->n_changes; i++) {
        const Apiplatform__V1__PlanChange *c = r->changes[i];
        printf("%s %s %s", signs[(unsigned)c->op < 4 ? c->op : 0],
               ap_msg_enum_short(&apiplatform__v1__change_op__descriptor, c->op, op, sizeof(op)),
               c->kind);
        if (*c->name) printf(" \"%s\"", c->name);
        if (*c->parent) printf(" in \"%s\"", c->parent);
        for (size_t f = 0; f < c->n_fields; f++)
            printf("%s%s", f ? ", " : " (fields: ", c->fields[f]);
        puts(c->n_fields ? ")" : "");
    }
}

/* The bundle file of an export, to -f FILE or stdout. */
static int print_bundle(const ctl_cli_t *cli, const Apiplatform__V1__Bundle *b, ap_status_t *st)
{
    const char *file = cli->opts[CTL_OPT_FILE];
    int to_file = file != NULL && strcmp(file, "-") != 0;
    FILE *out = to_file ? fopen(file, "w") : stdout;
    if (out == NULL) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "cannot write %s: %s", file,
                      strerror(errno));
        return -1;
    }
    json_t *j = ctl_bundle_to_json(b);
    int rc = ctl_doc_write(out, j, !cli->json, st);
    json_decref(j);
    if (to_file && fclose(out) != 0 && rc == 0) {
        ap_status_set(st, GRPC_STATUS_INTERNAL, "cannot write %s: %s", file, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* The deleted resource is the change of the noun's kind with op DELETE;
 * whatever else the delete changed (--cascade) is listed under it. */
static void print_deleted(const ctl_cli_t *cli, const Apiplatform__V1__DeleteResponse *d)
{
    const char *id = ap_msg_get_str(cli->req, "id");
    size_t main_change = d->n_changes;
    char op[16];
    for (size_t i = 0; i < d->n_changes && main_change == d->n_changes; i++) {
        if (strcmp(d->changes[i]->kind, cli->noun->name) == 0 &&
            d->changes[i]->op == APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE) {
            main_change = i;
            id = d->changes[i]->id;
        }
    }
    printf("deleted %s (revision %" PRIu64 ")\n", id, d->revision);
    for (size_t i = 0; i < d->n_changes; i++)
        if (i != main_change)
            printf("  %s %s %s\n",
                   ap_msg_enum_short(&apiplatform__v1__change_op__descriptor, d->changes[i]->op, op,
                                     sizeof(op)),
                   d->changes[i]->kind, d->changes[i]->id);
}

/* The sum of the UsageCounts fields named in `path` ("client_errors+
 * server_errors") of m, or of m's `counts`. */
static uint64_t counts_sum(const ProtobufCMessage *m, const char *path)
{
    const ProtobufCMessage *c = ctl_sub(m, "counts");
    uint64_t sum = 0;
    char name[32];
    if (c == NULL) c = m;
    for (const char *p = path; *p != '\0'; p += *p == '+') {
        size_t len = strcspn(p, "+");
        snprintf(name, sizeof(name), "%.*s", (int)len, p);
        sum += ap_msg_get_u64(c, name);
        p += len;
    }
    return sum;
}

static char *cell_counts(const ProtobufCMessage *item, const char *path)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, counts_sum(item, path));
    return strdup(buf);
}

#define CALLS "successful+client_errors+server_errors+rate_limited+quota_exceeded+ip_denied"
#define ERRORS "client_errors+server_errors"
#define VIOLATIONS "rate_limited+quota_exceeded+ip_denied"

static const ctl_column_t usage_clients[] = {{"CLIENT", "name"},
                                             {"ID", "id"},
                                             {"CALLS", CALLS, cell_counts},
                                             {"SUCCESSFUL", "successful", cell_counts},
                                             {"ERRORS", ERRORS, cell_counts},
                                             {"VIOLATIONS", VIOLATIONS, cell_counts},
                                             {NULL}};

static const ctl_column_t usage_endpoints[] = {{"ENDPOINT", "name"},
                                               {"COLLECTION", "detail"},
                                               {"ID", "id"},
                                               {"CALLS", CALLS, cell_counts},
                                               {"SUCCESSFUL", "successful", cell_counts},
                                               {"ERRORS", ERRORS, cell_counts},
                                               {"VIOLATIONS", VIOLATIONS, cell_counts},
                                               {NULL}};

/* The totals of a GetUsage answer with their breakdown, then its two top
 * lists as tables. */
static void print_usage(const ProtobufCMessage *resp)
{
    const Apiplatform__V1__GetUsageResponse *u = (const Apiplatform__V1__GetUsageResponse *)resp;
    const ProtobufCMessage *t = ctl_sub(resp, "totals");
    Apiplatform__V1__UsageCounts zero = APIPLATFORM__V1__USAGE_COUNTS__INIT;
    static const struct {
        const char *title, *path;
    } lists[] = {{"TOP CLIENTS", "top_clients"}, {"TOP ENDPOINTS", "top_endpoints"}};
    const ctl_column_t *cols[] = {usage_clients, usage_endpoints};
    size_t n;

    fputs("range:              ", stdout);
    put_time(stdout, u->start_time);
    fputs(" .. ", stdout);
    put_time(stdout, u->end_time);
    printf(" (%s buckets)\n", u->granularity);
    if (t == NULL) t = &zero.base;
    printf("calls:              %" PRIu64 "\n", counts_sum(t, CALLS));
    printf("successful:         %" PRIu64 "\n", counts_sum(t, "successful"));
    printf("errors:             %" PRIu64 " (client %" PRIu64 ", server %" PRIu64 ")\n",
           counts_sum(t, ERRORS), counts_sum(t, "client_errors"), counts_sum(t, "server_errors"));
    printf("policy violations:  %" PRIu64 " (rate limited %" PRIu64 ", quota exceeded %" PRIu64
           ", ip denied %" PRIu64 ")\n",
           counts_sum(t, VIOLATIONS), counts_sum(t, "rate_limited"),
           counts_sum(t, "quota_exceeded"), counts_sum(t, "ip_denied"));
    for (size_t i = 0; i < 2; i++) {
        printf("\n%s\n", lists[i].title);
        list_rows(resp, lists[i].path, &n);
        if (n == 0)
            puts("(no calls)");
        else
            print_table(cols[i], (ProtobufCMessage *const *)&resp, 1, lists[i].path, NULL);
    }
}

int ctl_print(const ctl_cli_t *cli, ProtobufCMessage *const *resps, size_t n, ap_status_t *st)
{
    const ProtobufCMessage *resp = resps[0];
    const Apiplatform__V1__ApplyResponse *plan = (const Apiplatform__V1__ApplyResponse *)resp;
    ctl_show_t show = cli->verb->show;
    /* a bundle has a file format of its own */
    int doc = (cli->json || cli->yaml) && show != CTL_SHOW_BUNDLE;
    if (doc && (show == CTL_SHOW_LIST || show == CTL_SHOW_CHANGES)) {
        json_t *all = json_array();
        for (size_t p = 0; p < n; p++) {
            size_t count;
            ProtobufCMessage *const *items = list_rows(resps[p], NULL, &count);
            for (size_t i = 0; i < count; i++)
                json_array_append_new(all, ap_msg_to_json(items[i]));
        }
        return print_doc(cli, all, st);
    }
    if (doc) {
        if (print_doc(cli, ap_msg_to_json(resp), st) != 0) return -1;
        return show == CTL_SHOW_DIFF && plan->n_changes > 0 ? 2 : 0;
    }
    switch (show) {
    case CTL_SHOW_FIELDS:
        print_fields(resp, "");
        break;
    case CTL_SHOW_LIST:
        print_table(cli->noun->columns, resps, n, NULL, NULL);
        break;
    case CTL_SHOW_CHANGES:
        print_table(cli->noun->columns, resps, n, NULL, "changes");
        break;
    case CTL_SHOW_DELETED:
        print_deleted(cli, (const Apiplatform__V1__DeleteResponse *)resp);
        break;
    case CTL_SHOW_SECRET: {
        const Apiplatform__V1__IssueTokenResponse *r =
            (const Apiplatform__V1__IssueTokenResponse *)resp;
        if (r->token != NULL) print_fields(&r->token->base, "");
        printf("secret: %s\n", r->secret);
        fputs("apictl: store this token now; it cannot be shown again\n", stderr);
        break;
    }
    case CTL_SHOW_REVISION:
        printf("%" PRIu64 "\n", ((const Apiplatform__V1__GetRevisionResponse *)resp)->revision);
        break;
    case CTL_SHOW_PLAN:
        print_plan(plan);
        if (plan->n_changes == 0)
            puts("no changes");
        else if (ap_msg_get_u64(cli->req, "dry_run"))
            printf("dry run: %zu change%s, nothing applied\n", plan->n_changes,
                   plan->n_changes == 1 ? "" : "s");
        else
            printf("applied: revision %" PRIu64 "\n", plan->revision);
        break;
    case CTL_SHOW_DIFF:
        print_plan(plan);
        if (plan->n_changes == 0) puts("no changes");
        return plan->n_changes > 0 ? 2 : 0;
    case CTL_SHOW_USAGE:
        print_usage(resp);
        break;
    case CTL_SHOW_BUNDLE:
        return print_bundle(cli, (const Apiplatform__V1__Bundle *)resp, st);
    }
    return 0;
}
