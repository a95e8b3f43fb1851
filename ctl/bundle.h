/* apictl's configuration-as-code library: YAML and JSON documents in and
 * out (doc.c), the bundle file format to and from the Bundle message
 * (bundle.c), and OpenAPI 3.0 documents of a collection (openapi.c). Nothing
 * here talks to the control plane; errors are INVALID_ARGUMENT statuses that
 * name the file, the line when known, and the path of the offending field
 * ("sales.yaml:12: collections[0].endpoints[1].method: required"). */
#ifndef CTL_BUNDLE_H
#define CTL_BUNDLE_H

#include "ap_rpc.h"
#include "apiplatform/v1/admin.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <yaml.h>

/* ---- doc.c ---- */

/* A document read from YAML or JSON as libyaml's node tree. JSON is read by
 * jansson (strict, with its own line numbers for syntax errors) and
 * converted: strings become quoted scalars, everything else plain ones, as
 * YAML would read the same text. */
typedef struct st_ctl_doc_t {
    yaml_document_t doc;
    /* what messages call the input ("stdin" for "-"), malloc'd */
    char *name;
    /* whether node marks are real positions (YAML) or zero (JSON) */
    int lines;
} ctl_doc_t;

/* Parses text as JSON when name ends in .json, or as YAML when it ends in
 * .yaml or .yml, else as JSON when it starts with '{' or '[' and YAML
 * otherwise. An empty document is an error. 0, or -1 with st set. */
int ctl_doc_parse(ctl_doc_t *d, const char *name, const char *text, size_t len, ap_status_t *st);
/* Reads and parses a file; "-" is stdin. */
int ctl_doc_load(ctl_doc_t *d, const char *file, ap_status_t *st);
void ctl_doc_free(ctl_doc_t *d);

yaml_node_t *ctl_doc_root(ctl_doc_t *d);
/* The value under `key` in a mapping node, or NULL. */
yaml_node_t *ctl_doc_get(ctl_doc_t *d, const yaml_node_t *map, const char *key);
/* A scalar's text; NULL for other nodes and for YAML's nulls (plain "",
 * "~", "null"), which mean "not given". */
const char *ctl_doc_text(const yaml_node_t *n);
/* Sets st to INVALID_ARGUMENT "NAME:LINE: PATH: message" (no line for JSON,
 * no path when empty) and returns -1. */
int ctl_doc_fail(ap_status_t *st, const ctl_doc_t *d, const yaml_node_t *at, const char *path,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Writes j as YAML (block style; a string that would read back as another
 * type is quoted, a multi-line one is a literal block) or as indented JSON. */
int ctl_doc_write(FILE *out, const json_t *j, int yaml, ap_status_t *st);

/* ---- bundle.c ---- */

/* The Bundle a document describes (ap_msg_free it). Unknown keys, wrong
 * types, bad values and missing required fields are errors. */
int ctl_bundle_from_doc(ctl_doc_t *d, Apiplatform__V1__Bundle **out, ap_status_t *st);
/* ctl_doc_load + ctl_bundle_from_doc. */
int ctl_bundle_load(const char *file, Apiplatform__V1__Bundle **out, ap_status_t *st);
/* The bundle in the file format, leaving out empty fields and values the
 * server assumes anyway (json_decref it). */
json_t *ctl_bundle_to_json(const Apiplatform__V1__Bundle *b);

/* Appends a new empty message to the repeated message field `name` of m and
 * returns it (owned by m). */
ProtobufCMessage *ctl_msg_append(ProtobufCMessage *m, const char *name);

/* ---- openapi.c ---- */

/* The OpenAPI 3.0.3 document of a collection and its endpoints as the data
 * planes serve them under the settings' prefix and custom domains. */
json_t *ctl_openapi_from_collection(const Apiplatform__V1__Collection *c,
                                    Apiplatform__V1__Endpoint *const *endpoints, size_t n,
                                    const Apiplatform__V1__Settings *s);
/* A bundle of one collection with an active endpoint proxied to
 * upstream + path for every operation of an OpenAPI 3.0 document, named by
 * its x-apiplatform-name or operationId. name and version (may be NULL)
 * override info.title and info.version. */
int ctl_openapi_to_bundle(ctl_doc_t *d, const char *upstream, const char *name, const char *version,
                          Apiplatform__V1__Bundle **out, ap_status_t *st);

#endif
