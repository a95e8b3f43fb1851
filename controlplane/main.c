/* apiplatform-cp: the control plane. Opens the RocksDB store, makes sure an
 * admin token exists (bootstrap: generated on first start and written to
 * <data-dir>/admin.token, mode 0600), and serves the Admin gRPC service until
 * SIGTERM or SIGINT, finishing in-flight calls before it exits.
 * It also serves the Sync service data planes stream their config from.
 * Settings come from flags, or a config file of `name = value` lines using
 * the same names (flags win). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "ap_conf.h"
#include "ap_log.h"
#include "ap_rpc.h"
#include "ap_token.h"
#include "store.h"

typedef struct {
    char listen[256];
    char data_dir[1024];
    int fsync;
    char log_level[16];
    char admin_token_file[1024];
    char node_token_file[1024];
    char node_cert_cn[256];
    int test_hooks;
    char tls_cert[1024], tls_key[1024], tls_ca[1024];
    int grace_ms;
    int quota_ttl_ms;
    long long quota_grant_cap;
} config_t;

/* set by the signal handler, read by the server loop */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    stop_requested = 1;
}

static const struct option OPTS[] = {
    {"listen", required_argument, NULL, 'l'},
    {"data-dir", required_argument, NULL, 'd'},
    {"fsync", required_argument, NULL, 'f'},
    {"log-level", required_argument, NULL, 'v'},
    {"admin-token-file", required_argument, NULL, 'a'},
    {"node-token-file", required_argument, NULL, 'n'},
    {"node-cert-cn", required_argument, NULL, 'N'},
    {"test-hooks", no_argument, NULL, 'T'},
    {"tls-cert", required_argument, NULL, 'c'},
    {"tls-key", required_argument, NULL, 'k'},
    {"tls-ca", required_argument, NULL, 'C'},
    {"grace-ms", required_argument, NULL, 'g'},
    {"config", required_argument, NULL, 'F'},
    {"quota-lease-ttl-ms", required_argument, NULL, 'q'},
    {"quota-grant-cap", required_argument, NULL, 'Q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(
        f, "usage: apiplatform-cp [options]\n"
           "  --listen ADDR            Admin gRPC address (default 127.0.0.1:7400)\n"
           "  --data-dir DIR           RocksDB and the bootstrap admin token (default ./data)\n"
           "  --fsync true|false       sync the write-ahead log on every write (default true)\n"
           "  --log-level LEVEL        debug, info, warn, error (default info)\n"
           "  --admin-token-file FILE  accept the admin token in FILE (or env APIP_ADMIN_TOKEN)\n"
           "                           instead of the bootstrap one\n"
           "  --node-token-file FILE   data planes must present the token in FILE (or env\n"
           "                           APIP_NODE_TOKEN); default: <data-dir>/node.token, made\n"
           "                           on first start\n"
           "  --node-cert-cn NAME      with --tls-ca: also admit data planes whose client\n"
           "                           certificate has this common name (\"dp-*\": prefix)\n"
           "  --test-hooks             ship endpoints described \"__test_refuse__\" broken, so\n"
           "                           tests can watch a node refuse an update\n"
           "  --tls-cert FILE --tls-key FILE [--tls-ca FILE]\n"
           "                           serve TLS; with --tls-ca, require client certificates\n"
           "  --grace-ms N             how long shutdown waits for in-flight calls (default 5000)\n"
           "  --quota-lease-ttl-ms N   a quota lease of a node that went away is reclaimed\n"
           "                           N ms after it left (default 10000)\n"
           "  --quota-grant-cap N      the largest quota slice leased at once (default 100000)\n"
           "  --config FILE            read `name = value` lines with the names above\n");
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"))
        return *out = 1, 0;
    if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off"))
        return *out = 0, 0;
    return -1;
}

/* Applies one setting; returns 0, or -1 after printing what is wrong. */
static int set_option(config_t *c, int opt, const char *name, const char *v)
{
    switch (opt) {
    case 'l':
        snprintf(c->listen, sizeof(c->listen), "%s", v);
        break;
    case 'd':
        snprintf(c->data_dir, sizeof(c->data_dir), "%s", v);
        break;
    case 'f':
        if (parse_bool(v, &c->fsync) != 0)
            return fprintf(stderr, "apiplatform-cp: --fsync: expected true or false, got \"%s\"\n",
                           v),
                   -1;
        break;
    case 'v':
        if (ap_log_parse_level(v, &(ap_log_level_t){0}) != 0)
            return fprintf(stderr,
                           "apiplatform-cp: --log-level: expected debug, info, warn or error\n"),
                   -1;
        snprintf(c->log_level, sizeof(c->log_level), "%s", v);
        break;
    case 'a':
        snprintf(c->admin_token_file, sizeof(c->admin_token_file), "%s", v);
        break;
    case 'n':
        snprintf(c->node_token_file, sizeof(c->node_token_file), "%s", v);
        break;
    case 'N':
        snprintf(c->node_cert_cn, sizeof(c->node_cert_cn), "%s", v);
        break;
    case 'T':
        c->test_hooks = 1;
        break;
    case 'c':
        snprintf(c->tls_cert, sizeof(c->tls_cert), "%s", v);
        break;
    case 'k':
        snprintf(c->tls_key, sizeof(c->tls_key), "%s", v);
        break;
    case 'C':
        snprintf(c->tls_ca, sizeof(c->tls_ca), "%s", v);
        break;
    case 'g':
        c->grace_ms = atoi(v);
        break;
    case 'q':
        c->quota_ttl_ms = atoi(v);
        if (c->quota_ttl_ms < 200 || c->quota_ttl_ms > 3600000) {
            fprintf(stderr, "apiplatform-cp: --quota-lease-ttl-ms: must be 200-3600000\n");
            return -1;
        }
        break;
    case 'Q':
        c->quota_grant_cap = atoll(v);
        if (c->quota_grant_cap < 1) {
            fprintf(stderr, "apiplatform-cp: --quota-grant-cap: must be a positive number\n");
            return -1;
        }
        break;
    default:
        fprintf(stderr, "apiplatform-cp: unknown setting \"%s\"\n", name);
        return -1;
    }
    return 0;
}

static int set_from_file(void *ctx, int opt, const char *name, const char *v)
{
    config_t *c = ctx;
    return set_option(c, opt, name, v);
}

/* Which secret a kind of caller must present: the one in `file`, else in
 * env, else the bootstrap one (made on first start, written to
 * <data-dir>/<name>.token with mode 0600; only its hash is kept in the
 * store). Returns 0 with the hex SHA-256 in out. */
typedef struct {
    const char *name;   /* "admin", "node" */
    const char *file;   /* flag value, "" = none */
    const char *env;    /* environment variable */
    const char *prefix; /* AP_TOKEN_*_PREFIX */
} secret_src_t;

static int secret_hash(const config_t *c, cp_store_t *store, const secret_src_t *src, char *out)
{
    char tok[1024] = "";
    const char *env = getenv(src->env);
    if (src->file[0]) {
        FILE *f = fopen(src->file, "r");
        if (f == NULL || fgets(tok, sizeof(tok), f) == NULL) {
            fprintf(stderr, "apiplatform-cp: cannot read the %s token from %s\n", src->name,
                    src->file);
            if (f) fclose(f);
            return -1;
        }
        fclose(f);
        tok[strcspn(tok, "\r\n \t")] = '\0';
    } else if (env != NULL && env[0]) {
        snprintf(tok, sizeof(tok), "%s", env);
    }
    if (tok[0]) {
        if (strlen(tok) < 16) {
            fprintf(stderr, "apiplatform-cp: the %s token must be at least 16 characters\n",
                    src->name);
            return -1;
        }
        ap_sha256_hex(tok, strlen(tok), out);
        memset(tok, 0, sizeof(tok));
        ap_log(AP_LOG_INFO, "secret", "kind=%s source=%s", src->name,
               src->file[0] ? "file" : "env");
        return 0;
    }
    char meta[64], path[1100];
    snprintf(meta, sizeof(meta), "m/%s_sha256", src->name);
    snprintf(path, sizeof(path), "%s/%s.token", c->data_dir, src->name);
    size_t len;
    char *h = cp_store_get(store, meta, &len);
    if (h != NULL && len == 64) {
        memcpy(out, h, 64);
        out[64] = '\0';
        free(h);
        ap_log(AP_LOG_INFO, "secret", "kind=%s source=bootstrap path=%s", src->name, path);
        return 0;
    }
    free(h);
    if (ap_token_generate(src->prefix, tok) != 0)
        return fprintf(stderr, "apiplatform-cp: the system's random source failed\n"), -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, tok, strlen(tok)) != (ssize_t)strlen(tok) || write(fd, "\n", 1) != 1 ||
        fsync(fd) != 0) {
        fprintf(stderr, "apiplatform-cp: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    ap_sha256_hex(tok, strlen(tok), out);
    memset(tok, 0, sizeof(tok));
    char *err = NULL;
    if (cp_store_put_meta(store, meta + 2, out, &err) != 0) {
        fprintf(stderr, "apiplatform-cp: cannot store the %s token hash: %s\n", src->name, err);
        free(err);
        return -1;
    }
    ap_log(AP_LOG_INFO, "secret", "kind=%s source=bootstrap created=true path=%s", src->name, path);
    return 0;
}

static void tick(void *ctx)
{
    cp_sync_tick(((cp_admin_t *)ctx)->sync);
}

int main(int argc, char **argv)
{
    config_t c = {.listen = "127.0.0.1:7400",
                  .data_dir = "./data",
                  .fsync = 1,
                  .log_level = "info",
                  .grace_ms = 5000,
                  .quota_ttl_ms = 10000,
                  .quota_grant_cap = 100000};
    /* the config file first, so flags override it */
    if (ap_conf_from_argv("apiplatform-cp", argc, argv, OPTS, 'F', set_from_file, &c) != 0)
        return 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 0;
        }
        if (opt == 'F') continue;
        if (opt == '?' || set_option(&c, opt, "", optarg) != 0) {
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "apiplatform-cp: unexpected argument \"%s\"\n", argv[optind]);
        return 1;
    }
    ap_log_parse_level(c.log_level, &ap_log_min_level);
    if (mkdir(c.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "apiplatform-cp: cannot create %s: %s\n", c.data_dir, strerror(errno));
        return 1;
    }
    char dbdir[1100], *err = NULL;
    snprintf(dbdir, sizeof(dbdir), "%s/db", c.data_dir);
    cp_store_t *store = cp_store_open(dbdir, c.fsync, &err);
    if (store == NULL) {
        fprintf(stderr, "apiplatform-cp: cannot open the store in %s: %s\n", dbdir, err);
        free(err);
        return 1;
    }
    cp_admin_t admin = {store, "", NULL};
    char node_hash[65];
    secret_src_t admin_src = {"admin", c.admin_token_file, "APIP_ADMIN_TOKEN",
                              AP_TOKEN_ADMIN_PREFIX};
    secret_src_t node_src = {"node", c.node_token_file, "APIP_NODE_TOKEN", AP_TOKEN_NODE_PREFIX};
    if (secret_hash(&c, store, &admin_src, admin.admin_hash) != 0 ||
        secret_hash(&c, store, &node_src, node_hash) != 0) {
        cp_store_close(store);
        return 1;
    }
    admin.sync = cp_sync_new(store, node_hash, c.node_cert_cn, c.test_hooks,
                             (uint32_t)c.quota_ttl_ms, (uint64_t)c.quota_grant_cap);
    ap_stream_method_t sync_row = cp_sync_stream_method;
    sync_row.ctx = admin.sync;
    ap_server_opts_t so = {
        .listen = c.listen,
        .tls = {c.tls_cert[0] ? c.tls_cert : NULL, c.tls_key[0] ? c.tls_key : NULL,
                c.tls_ca[0] ? c.tls_ca : NULL, c.tls_ca[0] != 0},
        .methods = cp_admin_methods,
        .n_methods = cp_admin_n_methods,
        .auth = cp_admin_auth,
        .streams = &sync_row,
        .n_streams = 1,
        .done = cp_admin_done,
        .tick = tick,
        .ctx = &admin,
    };
    ap_status_t st;
    ap_server_t *srv = ap_server_new(&so, &st);
    if (srv == NULL) {
        fprintf(stderr, "apiplatform-cp: %s\n", st.message);
        cp_sync_free(admin.sync);
        cp_store_close(store);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char host[256];
    snprintf(host, sizeof(host), "%s", c.listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    ap_log(AP_LOG_INFO, "listening", "addr=%s:%d tls=%s revision=%llu data_dir=%s fsync=%s", host,
           ap_server_port(srv), c.tls_cert[0] ? "on" : "off",
           (unsigned long long)cp_store_revision(store), c.data_dir, c.fsync ? "true" : "false");
    ap_server_run(srv, &stop_requested, c.grace_ms);
    ap_server_free(srv);
    cp_sync_free(admin.sync);
    unsigned long long rev = (unsigned long long)cp_store_revision(store);
    cp_store_close(store);
    ap_log(AP_LOG_INFO, "stopped", "revision=%llu", rev);
    return 0;
}
