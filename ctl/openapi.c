/* OpenAPI 3.0 and collections, both ways, on the client side: a collection,
 * its endpoints and the settings become the document callers of the data
 * planes need (servers, paths with their parameters, the API-Token scheme);
 * an OpenAPI document becomes a bundle of one collection whose endpoints
 * proxy every operation to an upstream. An endpoint name that is no
 * identifier travels as x-apiplatform-name, so a collection's own document
 * imports back onto it without renaming its endpoints. */
#define _GNU_SOURCE
#include "bundle.h"

#include "ap_msg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Operation keys of an OpenAPI path item. */
static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                      "options", "head", "patch", "trace"};

/* Every operation can meet the gateway's refusals as well as succeed. */
static json_t *responses(void)
{
    return json_pack("{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}", "200", "description", "OK", "401",
                     "description", "API token missing, invalid, expired or revoked", "403",
                     "description", "Not allowed for this token's access profile", "429",
                     "description", "Rate limit or quota exceeded");
}

/* The endpoint's name as an identifier ("GET /orders/{id}" ->
 * "GET_orders_id"), made unique among `used` with a _2, _3... suffix. */
static char *operation_id(const char *name, json_t *used)
{
    char *base = malloc(strlen(name) + sizeof("operation")), *p = base, *id;
    for (const char *s = name; *s; s++) {
        if (isalnum((unsigned char)*s))
            *p++ = *s;
        else if (p > base && p[-1] != '_')
            *p++ = '_';
    }
    while (p > base && p[-1] == '_')
        p--;
    strcpy(p, p == base ? "operation" : "");
    id = strdup(base);
    for (int n = 2; json_object_get(used, id) != NULL; n++) {
        free(id);
        if (asprintf(&id, "%s_%d", base, n) < 0) abort();
    }
    json_object_set_new(used, id, json_true());
    free(base);
    return id;
}

/* The {params} of a path template as required path parameters. */
static json_t *path_parameters(const char *path)
{
    json_t *params = json_array();
    for (const char *open = strchr(path, '{'); open != NULL; open = strchr(open + 1, '{')) {
        const char *close = strchr(open, '}');
        if (close == NULL) break;
        json_array_append_new(params, json_pack("{s:s#, s:s, s:b, s:{s:s}}", "name", open + 1,
                                                (int)(close - open - 1), "in", "path", "required",
                                                1, "schema", "type", "string"));
    }
    return params;
}

static json_t *operation(const Apiplatform__V1__Endpoint *e, json_t *used)
{
    char *id = operation_id(e->name, used);
    json_t *op = json_pack("{s:s, s:s}", "operationId", id, "summary",
                           *e->description ? e->description : e->name);
    json_t *params = path_parameters(e->path);
    if (strcmp(id, e->name) != 0)
        json_object_set_new(op, "x-apiplatform-name", json_string(e->name));
    free(id);
    if (json_array_size(params) > 0)
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    json_object_set_new(op, "responses", responses());
    if (!e->active) json_object_set_new(op, "x-apiplatform-active", json_false());
    return op;
}

json_t *ctl_openapi_from_collection(const Apiplatform__V1__Collection *c,
                                    Apiplatform__V1__Endpoint *const *endpoints, size_t n,
                                    const Apiplatform__V1__Settings *s)
{
    json_t *info = json_pack("{s:s, s:s}", "title", c->name, "version", c->version);
    json_t *servers = json_array(), *paths = json_object(), *used = json_object();
    char *url;

    if (*c->description) json_object_set_new(info, "description", json_string(c->description));
    if (asprintf(&url, "https://{gateway-host}%s%s/%s", *s->api_prefix ? "/" : "", s->api_prefix,
                 c->path) < 0)
        abort();
    json_array_append_new(servers, json_pack("{s:s, s:{s:{s:s, s:s}}}", "url", url, "variables",
                                             "gateway-host", "default", "localhost", "description",
                                             "a data-plane node"));
    free(url);
    for (size_t i = 0; i < s->n_custom_domains; i++) {
        if (asprintf(&url, "https://%s/%s", s->custom_domains[i], c->path) < 0) abort();
        json_array_append_new(servers, json_pack("{s:s}", "url", url));
        free(url);
    }
    for (size_t i = 0; i < n; i++) {
        char method[16];
        json_t *item = json_object_get(paths, endpoints[i]->path);
        if (item == NULL) json_object_set_new(paths, endpoints[i]->path, item = json_object());
        snprintf(method, sizeof(method), "%s", endpoints[i]->method);
        for (char *p = method; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json_object_set_new(item, method, operation(endpoints[i], used));
    }
    json_decref(used);
    return json_pack("{s:s, s:o, s:o, s:o, s:{s:{s:{s:s, s:s, s:s}}}, s:[{s:[]}]}", "openapi",
                     "3.0.3", "info", info, "servers", servers, "paths", paths, "components",
                     "securitySchemes", "ApiToken", "type", "apiKey", "in", "header", "name",
                     "API-Token", "security", "ApiToken");
}

/* One endpoint per operation of a path item. */
static int add_operations(ctl_doc_t *d, yaml_node_t *item, const char *path, const char *upstream,
                          size_t upstream_len, Apiplatform__V1__BundleCollection *bc,
                          ap_status_t *st)
{
    char where[512], method[16];
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        yaml_node_t *op = ctl_doc_get(d, item, methods[i]);
        if (op == NULL) continue;
        snprintf(where, sizeof(where), "paths.%s.%s", path, methods[i]);
        if (op->type != YAML_MAPPING_NODE)
            return ctl_doc_fail(st, d, op, where, "expected an operation object");
        Apiplatform__V1__Endpoint *e =
            (Apiplatform__V1__Endpoint *)ctl_msg_append(&bc->base, "endpoints");
        const char *id = ctl_doc_text(ctl_doc_get(d, op, "x-apiplatform-name"));
        if (id == NULL) id = ctl_doc_text(ctl_doc_get(d, op, "operationId"));
        const char *summary = ctl_doc_text(ctl_doc_get(d, op, "summary"));
        char *url;
        snprintf(method, sizeof(method), "%s", methods[i]);
        for (char *c = method; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        ap_msg_set_str(&e->base, "method", method);
        ap_msg_set_str(&e->base, "path", path);
        if (id != NULL) ap_msg_set_str(&e->base, "name", id);
        if (summary != NULL) ap_msg_set_str(&e->base, "description", summary);
        e->active = 1;
        e->target = (Apiplatform__V1__Target *)ap_msg_new(&apiplatform__v1__target__descriptor);
        e->target->kind = APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM;
        if (asprintf(&url, "%.*s%s", (int)upstream_len, upstream, path) < 0) abort();
        ap_msg_set_str(&e->target->base, "url", url);
        free(url);
    }
    return 0;
}

int ctl_openapi_to_bundle(ctl_doc_t *d, const char *upstream, const char *name, const char *version,
                          Apiplatform__V1__Bundle **out, ap_status_t *st)
{
    yaml_node_t *root = ctl_doc_root(d), *info = ctl_doc_get(d, root, "info");
    yaml_node_t *paths = ctl_doc_get(d, root, "paths");
    const char *openapi = ctl_doc_text(ctl_doc_get(d, root, "openapi"));
    const char *description = ctl_doc_text(ctl_doc_get(d, info, "description"));
    size_t upstream_len = strlen(upstream);

    if (openapi == NULL || strncmp(openapi, "3.", 2) != 0)
        return ctl_doc_fail(st, d, root, "openapi", "not an OpenAPI 3 document");
    if (name == NULL && (name = ctl_doc_text(ctl_doc_get(d, info, "title"))) == NULL)
        return ctl_doc_fail(st, d, info ? info : root, "info.title", "missing; give --name");
    if (version == NULL && (version = ctl_doc_text(ctl_doc_get(d, info, "version"))) == NULL)
        return ctl_doc_fail(st, d, info ? info : root, "info.version", "missing; give --version");
    if (paths == NULL || paths->type != YAML_MAPPING_NODE)
        return ctl_doc_fail(st, d, paths ? paths : root, "paths", "expected a mapping of paths");
    while (upstream_len > 0 && upstream[upstream_len - 1] == '/')
        upstream_len--;

    Apiplatform__V1__Bundle *b =
        (Apiplatform__V1__Bundle *)ap_msg_new(&apiplatform__v1__bundle__descriptor);
    Apiplatform__V1__BundleCollection *bc =
        (Apiplatform__V1__BundleCollection *)ctl_msg_append(&b->base, "collections");
    bc->collection =
        (Apiplatform__V1__Collection *)ap_msg_new(&apiplatform__v1__collection__descriptor);
    ap_msg_set_str(&bc->collection->base, "name", name);
    ap_msg_set_str(&bc->collection->base, "version", version);
    if (description != NULL) ap_msg_set_str(&bc->collection->base, "description", description);

    for (yaml_node_pair_t *p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
        const char *path = ctl_doc_text(k);
        if (path == NULL || path[0] != '/') {
            ap_msg_free(&b->base);
            return ctl_doc_fail(st, d, k, "paths", "\"%s\" does not start with /",
                                path ? path : "");
        }
        if (add_operations(d, yaml_document_get_node(&d->doc, p->value), path, upstream,
                           upstream_len, bc, st) != 0) {
            ap_msg_free(&b->base);
            return -1;
        }
    }
    if (bc->n_endpoints == 0) {
        ap_msg_free(&b->base);
        return ctl_doc_fail(st, d, paths, "paths", "no operations");
    }
    *out = b;
    return 0;
}
