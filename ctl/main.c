/* apictl, the command-line client of the Admin API: the command line becomes
 * one request (cli.c), sent with the admin token over gRPC; list answers are
 * followed page by page, and a verb with a run of its own (run.c) makes its
 * calls through ctl_call. Exit status 0 on success, 1 on any error, reported
 * on stderr as "apictl: STATUS: message", 2 for a diff that found changes. */
#include "ctl.h"

#include "ap_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The admin token: --token, else $APICTL_TOKEN, else the trimmed contents
 * of the file $APICTL_TOKEN_FILE names (into buf); NULL when none is set. */
static int admin_token(const ctl_cli_t *cli, char *buf, size_t len, const char **token,
                       ap_status_t *st)
{
    const char *env = getenv("APICTL_TOKEN"), *file = getenv("APICTL_TOKEN_FILE");
    *token = cli->token != NULL ? cli->token : env != NULL && *env != '\0' ? env : NULL;
    if (*token != NULL || file == NULL || *file == '\0') return 0;
    FILE *fp = fopen(file, "r");
    if (fp == NULL) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "cannot read APICTL_TOKEN_FILE %s: %s",
                      file, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, len - 1, fp);
    fclose(fp);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]) != NULL)
        n--;
    buf[n] = '\0';
    *token = buf + strspn(buf, " \t\r\n");
    return 0;
}

int ctl_call(ctl_cli_t *cli, const char *rpc, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, ap_status_t *st)
{
    char method[128];
    /* connected on the first call: a bad bundle file is reported before a
     * missing token */
    if (cli->ch == NULL &&
        (admin_token(cli, cli->token_buf, sizeof(cli->token_buf), &cli->bearer, st) != 0 ||
         (cli->ch = ap_channel_new(cli->server, &cli->tls, st)) == NULL))
        return -1;
    snprintf(method, sizeof(method), "/apiplatform.v1.Admin/%s", rpc);
    if (ap_unary_call(cli->ch, method, req, resp_desc, cli->bearer, cli->timeout_ms, resp, st) !=
        GRPC_STATUS_OK)
        return -1;
    return 0;
}

int ctl_send(ctl_cli_t *cli, ap_status_t *st)
{
    ProtobufCMessage **resps = NULL, *resp;
    size_t n = 0;
    int rc = -1;
    for (;;) {
        if (ctl_call(cli, cli->verb->rpc, cli->req, cli->verb->resp, &resp, st) != 0) goto done;
        resps = realloc(resps, (n + 1) * sizeof(*resps));
        resps[n++] = resp;
        /* "" for answers that are not list pages */
        const char *next = ap_msg_get_str(resp, "next_page_token");
        if (*next == '\0') break;
        ap_msg_set_str(cli->req, "page_token", next);
    }
    rc = ctl_print(cli, resps, n, st);
done:
    for (size_t i = 0; i < n; i++)
        ap_msg_free(resps[i]);
    free(resps);
    return rc;
}

int main(int argc, char **argv)
{
    ctl_cli_t cli = {0};
    ap_status_t st = {0};
    int rc = ctl_cli_parse(&cli, argc, argv, &st);

    if (cli.help) {
        ctl_usage(stdout, cli.noun, cli.verb);
        rc = 0;
    } else if (rc == 0 && cli.verb == NULL) {
        ctl_usage(stderr, cli.noun, NULL);
        rc = -1;
    } else {
        if (rc == 0) rc = cli.verb->run ? cli.verb->run(&cli, &st) : ctl_send(&cli, &st);
        if (rc < 0) fprintf(stderr, "apictl: %s: %s\n", ap_status_name(st.code), st.message);
    }
    ap_msg_free(cli.req);
    ap_channel_free(cli.ch);
    return rc < 0 ? 1 : rc;
}
