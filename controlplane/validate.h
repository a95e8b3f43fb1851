/* Validation of everything an admin can send: the syntax rules (names,
 * methods, path templates, upstream URLs, CIDRs, hostnames) and one checker
 * per resource kind. Errors are INVALID_ARGUMENT naming the field as
 * "<kind>.<field>: <rule>", so a person knows what to fix. */
#ifndef CP_VALIDATE_H
#define CP_VALIDATE_H

#include <stddef.h>

#include "ap_rpc.h"
#include "apiplatform/v1/resources.pb-c.h"

#define CP_MAX_PARAMS 16

/* A parsed endpoint path template: "/orders/{id}" -> params {"id"}, route
 * key "/orders/{}" (two templates that differ only in param names clash). */
typedef struct st_cp_path_template_t {
    size_t n_params;
    char params[CP_MAX_PARAMS][64];
    char route[512];
} cp_path_template_t;

/* Each returns 0, or -1 with the broken rule in err. */
int cp_valid_name(const char *s, char *err, size_t errlen);
int cp_valid_method(const char *m, char *err, size_t errlen);
int cp_path_template_parse(const char *path, cp_path_template_t *out, char *err, size_t errlen);
/* An http(s) URL template whose {params} all appear in tpl (tpl may be NULL). */
int cp_valid_upstream_url(const char *url, const cp_path_template_t *tpl, char *err, size_t errlen);
int cp_valid_cidr(const char *s, char *err, size_t errlen);
int cp_valid_hostname(const char *s, char *err, size_t errlen);
/* A URL path of one or more segments of [a-z0-9._-] joined by '/', no
 * leading or trailing '/' (collection paths, the API prefix). */
int cp_valid_url_path(const char *p, char *err, size_t errlen);
/* The slug of a name: lowercase letters and digits, other runs -> '-'. */
void cp_slug(const char *name, char *out, size_t outlen);

/* Per-kind checks of a complete resource (defaults already applied). */
int cp_validate_collection(const Apiplatform__V1__Collection *c, ap_status_t *st);
int cp_validate_endpoint(const Apiplatform__V1__Endpoint *e, ap_status_t *st);
int cp_validate_client(const Apiplatform__V1__Client *c, ap_status_t *st);
int cp_validate_profile(const Apiplatform__V1__AccessProfile *p, ap_status_t *st);
int cp_validate_policy(const Apiplatform__V1__AccessPolicy *p, ap_status_t *st);
int cp_validate_settings(const Apiplatform__V1__Settings *s, ap_status_t *st);

#endif
