/* The verbs that are more than one call and a print: apply and diff read
 * the bundle file into their ApplyRequest before sending it, import-openapi
 * builds that bundle from an OpenAPI document, and openapi gathers a
 * collection, its endpoints and the settings into an OpenAPI document. Files
 * are read and checked before anything is sent. */
#include "ctl.h"

#include "ap_msg.h"
#include "bundle.h"

#include <stdlib.h>

static int need(const ctl_cli_t *cli, ctl_opt_t opt, const char *what, ap_status_t *st)
{
    if (cli->opts[opt] != NULL) return 0;
    ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s is required (see 'apictl %s%s%s --help')",
                  what, cli->noun->name, cli->verb->name ? " " : "",
                  cli->verb->name ? cli->verb->name : "");
    return -1;
}

/* Sends the verb's ApplyRequest with b as its bundle. */
static int send_bundle(ctl_cli_t *cli, Apiplatform__V1__Bundle *b, ap_status_t *st)
{
    Apiplatform__V1__ApplyRequest *req = (Apiplatform__V1__ApplyRequest *)cli->req;
    ap_msg_free(&req->bundle->base);
    req->bundle = b;
    return ctl_send(cli, st);
}

int ctl_run_apply(ctl_cli_t *cli, ap_status_t *st)
{
    Apiplatform__V1__Bundle *b;
    if (need(cli, CTL_OPT_FILE, "-f FILE", st) != 0 ||
        ctl_bundle_load(cli->opts[CTL_OPT_FILE], &b, st) != 0)
        return -1;
    return send_bundle(cli, b, st);
}

int ctl_run_diff(ctl_cli_t *cli, ap_status_t *st)
{
    ((Apiplatform__V1__ApplyRequest *)cli->req)->dry_run = 1;
    return ctl_run_apply(cli, st);
}

int ctl_run_import(ctl_cli_t *cli, ap_status_t *st)
{
    Apiplatform__V1__Bundle *b;
    ctl_doc_t d;
    int rc;
    if (need(cli, CTL_OPT_UPSTREAM, "--upstream URL", st) != 0 ||
        ctl_doc_load(&d, cli->opts[CTL_OPT_FILE], st) != 0)
        return -1;
    rc = ctl_openapi_to_bundle(&d, cli->opts[CTL_OPT_UPSTREAM], cli->opts[CTL_OPT_NAME],
                               cli->opts[CTL_OPT_VERSION], &b, st);
    ctl_doc_free(&d);
    return rc != 0 ? -1 : send_bundle(cli, b, st);
}

int ctl_run_openapi(ctl_cli_t *cli, ap_status_t *st)
{
    ProtobufCMessage *col = NULL, *settings = NULL, **pages = NULL, *page;
    ProtobufCMessage *list = ap_msg_new(&apiplatform__v1__list_request__descriptor);
    ProtobufCMessage *get = ap_msg_new(&apiplatform__v1__get_settings_request__descriptor);
    Apiplatform__V1__Endpoint **endpoints = NULL;
    json_t *doc;
    size_t npages = 0, n = 0;
    int rc = -1;

    if (ctl_call(cli, "GetCollection", cli->req, &apiplatform__v1__collection__descriptor, &col,
                 st) != 0)
        goto done;
    ap_msg_set_str(list, "parent", ap_msg_get_str(col, "id"));
    ap_msg_set_u64(list, "page_size", 1000);
    do {
        if (ctl_call(cli, "ListEndpoints", list,
                     &apiplatform__v1__list_endpoints_response__descriptor, &page, st) != 0)
            goto done;
        pages = realloc(pages, (npages + 1) * sizeof(*pages));
        pages[npages++] = page;
        const Apiplatform__V1__ListEndpointsResponse *r =
            (const Apiplatform__V1__ListEndpointsResponse *)page;
        endpoints = realloc(endpoints, (n + r->n_items) * sizeof(*endpoints));
        for (size_t i = 0; i < r->n_items; i++)
            endpoints[n++] = r->items[i];
        ap_msg_set_str(list, "page_token", r->next_page_token);
    } while (*ap_msg_get_str(list, "page_token") != '\0');
    if (ctl_call(cli, "GetSettings", get, &apiplatform__v1__settings__descriptor, &settings, st) !=
        0)
        goto done;

    doc = ctl_openapi_from_collection((const Apiplatform__V1__Collection *)col, endpoints, n,
                                      (const Apiplatform__V1__Settings *)settings);
    rc = ctl_doc_write(stdout, doc, cli->yaml, st);
    json_decref(doc);
done:
    for (size_t i = 0; i < npages; i++)
        ap_msg_free(pages[i]);
    free(pages);
    free(endpoints);
    ap_msg_free(col);
    ap_msg_free(settings);
    ap_msg_free(list);
    ap_msg_free(get);
    return rc;
}
