/* apiplatform-dp: a data plane node. Binds its listeners, loads the last
 * config it cached and starts syncing with the control plane, then serves
 * API calls until SIGTERM or SIGINT: it stops accepting, lets in-flight
 * requests finish (--grace-ms), stops the sync stream and exits 0.
 * Settings come from flags, or a config file of `name = value` lines using
 * the same names (flags win; listen lines may repeat). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "admin.h"
#include "ap_conf.h"
#include "ap_log.h"
#include "config.h"
#include "validate.h"
#include "server.h"
#include "quota.h"
#include "sync.h"
#include "usage.h"

#define MAX_LISTEN 16

/* A list of addresses; `from_flags` says whether the command line set it
 * (the first flag replaces what the config file said). */
typedef struct {
    const char *v[MAX_LISTEN];
    size_t n;
    int from_flags;
} addrs_t;

typedef struct {
    addrs_t listen, tls_listen;
    char tls_cert[1024], tls_key[1024];
    char admin_listen[256];
    char cp[256];
    char cp_ca[1024], cp_cert[1024], cp_key[1024];
    char node_id[256];
    char node_token_file[1024];
    char labels[1024];
    char cache[1024];
    long threads;
    size_t max_body_bytes, max_header_bytes;
    char access_log[1024];
    char log_level[16];
    long grace_ms;
    long quota_wait_ms;
    long quota_idle_ms;
    /* --trusted-proxies, parsed */
    dp_cidr_t trusted[64];
    size_t n_trusted;
} config_t;

static const struct option OPTS[] = {
    {"listen", required_argument, NULL, 'l'},
    {"tls-listen", required_argument, NULL, 'L'},
    {"tls-cert", required_argument, NULL, 'c'},
    {"tls-key", required_argument, NULL, 'k'},
    {"admin-listen", required_argument, NULL, 'a'},
    {"cp", required_argument, NULL, 'p'},
    {"cp-ca", required_argument, NULL, 'A'},
    {"cp-cert", required_argument, NULL, 'C'},
    {"cp-key", required_argument, NULL, 'K'},
    {"node-id", required_argument, NULL, 'n'},
    {"node-token-file", required_argument, NULL, 't'},
    {"labels", required_argument, NULL, 'b'},
    {"cache", required_argument, NULL, 'e'},
    {"threads", required_argument, NULL, 'T'},
    {"max-body-bytes", required_argument, NULL, 'B'},
    {"max-header-bytes", required_argument, NULL, 'H'},
    {"access-log", required_argument, NULL, 'o'},
    {"log-level", required_argument, NULL, 'v'},
    {"grace-ms", required_argument, NULL, 'g'},
    {"quota-wait-ms", required_argument, NULL, 'W'},
    {"quota-idle-ms", required_argument, NULL, 'I'},
    {"trusted-proxies", required_argument, NULL, 'P'},
    {"config", required_argument, NULL, 'F'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: apiplatform-dp [options]\n"
            "  --listen ADDR            serve HTTP/1.1 and h2c on ADDR (default 127.0.0.1:8080;\n"
            "                           repeatable; port 0 picks a free port)\n"
            "  --tls-listen ADDR        serve HTTPS (ALPN h2, http/1.1) on ADDR (repeatable)\n"
            "  --tls-cert FILE --tls-key FILE\n"
            "                           certificate chain and key (PEM) for --tls-listen\n"
            "  --admin-listen ADDR      health and status listener (default 127.0.0.1:9901)\n"
            "  --cp ADDR                control plane gRPC address (default 127.0.0.1:7400)\n"
            "  --cp-ca FILE             verify the control plane with this CA (TLS)\n"
            "  --cp-cert FILE --cp-key FILE\n"
            "                           client certificate for the control plane (mTLS)\n"
            "  --node-id ID             this node's name (default: the hostname)\n"
            "  --node-token-file FILE   node token for the control plane (or env APIP_NODE_TOKEN)\n"
            "  --labels K=V,K=V         labels reported to the control plane\n"
            "  --cache FILE             last accepted config (default ./dp-cache.bin)\n"
            "  --threads N              event loops (default: one per core)\n"
            "  --trusted-proxies CIDRS  believe X-Forwarded-For from these peers (comma-\n"
            "                           separated addresses or ranges) for IP allow lists\n"
            "  --max-body-bytes N       largest request body (default 5MiB; k, M, G suffixes)\n"
            "  --max-header-bytes N     largest headers + URL (default 64KiB; one header is\n"
            "                           also refused above 16KiB)\n"
            "  --access-log FILE        JSON-lines access log, - for stdout (default -)\n"
            "  --log-level LEVEL        debug, info, warn, error (default info)\n"
            "  --grace-ms N             how long shutdown waits for in-flight requests\n"
            "                           (default 5000)\n"
            "  --quota-wait-ms N        how long a request of a profile with a quota may\n"
            "                           wait for a lease from the control plane (default 250)\n"
            "  --quota-idle-ms N        give a quota lease back after N ms without requests\n"
            "                           for its profile (default 10000)\n"
            "  --config FILE            read `name = value` lines with the names above\n");
}

/* "5242880", "512k", "5M", "5MiB", "1G" (binary units). */
static int parse_size(const char *v, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || errno != 0 || v[0] == '-') return -1;
    unsigned long long mult = 1;
    if (*end != '\0') {
        switch (*end) {
        case 'k':
        case 'K':
            mult = 1024;
            break;
        case 'm':
        case 'M':
            mult = 1024 * 1024;
            break;
        case 'g':
        case 'G':
            mult = 1024ULL * 1024 * 1024;
            break;
        default:
            return -1;
        }
        end++;
        if (strcmp(end, "") != 0 && strcmp(end, "iB") != 0 && strcmp(end, "B") != 0) return -1;
    }
    if (n == 0 || n > (1ULL << 40) / mult) return -1;
    *out = (size_t)(n * mult);
    return 0;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

static int add_addr(addrs_t *a, const char *v, int from_flags, const char *flag)
{
    if (from_flags && !a->from_flags) {
        a->n = 0;
        a->from_flags = 1;
    }
    if (a->n == MAX_LISTEN) {
        fprintf(stderr, "apiplatform-dp: --%s: at most %d addresses\n", flag, MAX_LISTEN);
        return -1;
    }
    char *copy = strdup(v);
    if (copy == NULL) return -1;
    a->v[a->n++] = copy;
    return 0;
}

static int check_labels(const char *v)
{
    if (v[0] == '\0') return 0;
    const char *p = v;
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        if (eq == NULL || eq == p) return -1;
        if (p[len] == '\0') return 0;
        p += len + 1;
    }
}

#define COPY(field) snprintf(c->field, sizeof(c->field), "%s", v)

/* Applies one setting; returns 0, or -1 after printing what is wrong. */
/* "10.0.0.0/8,::1": replaces the list. */
static int parse_trusted(config_t *c, const char *v)
{
    char buf[4096], why[256];
    snprintf(buf, sizeof(buf), "%s", v);
    c->n_trusted = 0;
    for (char *save = NULL, *e = strtok_r(buf, ",", &save); e != NULL;
         e = strtok_r(NULL, ",", &save)) {
        while (*e == ' ')
            e++;
        if (c->n_trusted == sizeof(c->trusted) / sizeof(c->trusted[0]))
            return fprintf(stderr, "apiplatform-dp: --trusted-proxies: at most 64 entries\n"), -1;
        if (cp_valid_cidr(e, why, sizeof(why)) != 0 ||
            dp_cidr_parse(e, &c->trusted[c->n_trusted]) != 0)
            return fprintf(stderr, "apiplatform-dp: --trusted-proxies: %s\n", why), -1;
        c->n_trusted++;
    }
    return 0;
}

static int set_option(config_t *c, int opt, const char *name, const char *v, int from_flags)
{
    switch (opt) {
    case 'l':
        return add_addr(&c->listen, v, from_flags, "listen");
    case 'L':
        return add_addr(&c->tls_listen, v, from_flags, "tls-listen");
    case 'P':
        return parse_trusted(c, v);
    case 'c':
        COPY(tls_cert);
        break;
    case 'k':
        COPY(tls_key);
        break;
    case 'a':
        COPY(admin_listen);
        break;
    case 'p':
        COPY(cp);
        break;
    case 'A':
        COPY(cp_ca);
        break;
    case 'C':
        COPY(cp_cert);
        break;
    case 'K':
        COPY(cp_key);
        break;
    case 'n':
        if (v[0] == '\0' || strlen(v) >= sizeof(c->node_id))
            return fprintf(stderr, "apiplatform-dp: --node-id: expected 1 to %zu characters\n",
                           sizeof(c->node_id) - 1),
                   -1;
        COPY(node_id);
        break;
    case 't':
        COPY(node_token_file);
        break;
    case 'b':
        if (check_labels(v) != 0)
            return fprintf(stderr,
                           "apiplatform-dp: --labels: expected key=value,key=value, got "
                           "\"%s\"\n",
                           v),
                   -1;
        COPY(labels);
        break;
    case 'e':
        COPY(cache);
        break;
    case 'T':
        if (parse_long(v, 1, 1024, &c->threads) != 0)
            return fprintf(stderr,
                           "apiplatform-dp: --threads: expected a number from 1 to 1024, got "
                           "\"%s\"\n",
                           v),
                   -1;
        break;
    case 'B':
        if (parse_size(v, &c->max_body_bytes) != 0)
            return fprintf(stderr,
                           "apiplatform-dp: --max-body-bytes: expected a positive size such as "
                           "5242880 or 5MiB, got \"%s\"\n",
                           v),
                   -1;
        break;
    case 'H':
        if (parse_size(v, &c->max_header_bytes) != 0 || c->max_header_bytes < 1024)
            return fprintf(stderr,
                           "apiplatform-dp: --max-header-bytes: expected a size of at least 1024 "
                           "such as 65536 or 64KiB, got \"%s\"\n",
                           v),
                   -1;
        break;
    case 'o':
        COPY(access_log);
        break;
    case 'v':
        if (ap_log_parse_level(v, &(ap_log_level_t){0}) != 0)
            return fprintf(stderr,
                           "apiplatform-dp: --log-level: expected debug, info, warn or error, "
                           "got \"%s\"\n",
                           v),
                   -1;
        COPY(log_level);
        break;
    case 'I':
        if (parse_long(v, 100, 86400000, &c->quota_idle_ms) != 0)
            return fprintf(stderr,
                           "apiplatform-dp: --quota-idle-ms: expected milliseconds from 100 to "
                           "86400000, got \"%s\"\n",
                           v),
                   -1;
        return 0;
    case 'W':
        if (parse_long(v, 0, 10000, &c->quota_wait_ms) != 0)
            return fprintf(
                       stderr,
                       "apiplatform-dp: --quota-wait-ms: expected milliseconds from 0 to 10000, "
                       "got \"%s\"\n",
                       v),
                   -1;
        return 0;
    case 'g':
        if (parse_long(v, 0, 600000, &c->grace_ms) != 0)
            return fprintf(stderr,
                           "apiplatform-dp: --grace-ms: expected milliseconds from 0 to 600000, "
                           "got \"%s\"\n",
                           v),
                   -1;
        break;
    default:
        fprintf(stderr, "apiplatform-dp: unknown setting \"%s\"\n", name);
        return -1;
    }
    return 0;
}

static int set_from_file(void *ctx, int opt, const char *name, const char *v)
{
    config_t *c = ctx;
    return set_option(c, opt, name, v, 0);
}

/* The node token from --node-token-file, else APIP_NODE_TOKEN, else NULL
 * (mTLS alone). Returns -1 after printing why the file is unusable. */
static int node_token(const config_t *c, char **out)
{
    *out = NULL;
    if (c->node_token_file[0]) {
        char tok[1024] = "";
        FILE *f = fopen(c->node_token_file, "r");
        if (f == NULL || fgets(tok, sizeof(tok), f) == NULL) {
            fprintf(stderr, "apiplatform-dp: --node-token-file: cannot read a token from %s%s%s\n",
                    c->node_token_file, f == NULL ? ": " : "", f == NULL ? strerror(errno) : "");
            if (f) fclose(f);
            return -1;
        }
        fclose(f);
        tok[strcspn(tok, "\r\n \t")] = '\0';
        if (tok[0] == '\0') {
            fprintf(stderr, "apiplatform-dp: --node-token-file: %s is empty\n", c->node_token_file);
            return -1;
        }
        *out = strdup(tok);
        memset(tok, 0, sizeof(tok));
        return 0;
    }
    const char *env = getenv("APIP_NODE_TOKEN");
    if (env != NULL && env[0]) *out = strdup(env);
    return 0;
}

static const char *opt_str(const char *s)
{
    return s[0] ? s : NULL;
}

int main(int argc, char **argv)
{
    config_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.admin_listen, sizeof(c.admin_listen), "127.0.0.1:9901");
    snprintf(c.cp, sizeof(c.cp), "127.0.0.1:7400");
    snprintf(c.cache, sizeof(c.cache), "./dp-cache.bin");
    snprintf(c.access_log, sizeof(c.access_log), "-");
    snprintf(c.log_level, sizeof(c.log_level), "info");
    c.max_body_bytes = 5 * 1024 * 1024;
    c.max_header_bytes = 64 * 1024;
    c.grace_ms = 5000;
    c.quota_wait_ms = 250;
    c.quota_idle_ms = 10000;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c.threads = ncpu > 0 ? (ncpu > 1024 ? 1024 : ncpu) : 1;

    /* the config file first, so flags override it */
    if (ap_conf_from_argv("apiplatform-dp", argc, argv, OPTS, 'F', set_from_file, &c) != 0)
        return 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 0;
        }
        if (opt == 'F') continue;
        if (opt == '?' || set_option(&c, opt, "", optarg, 1) != 0) {
            fprintf(stderr, "apiplatform-dp: see apiplatform-dp --help\n");
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "apiplatform-dp: unexpected argument \"%s\"\n", argv[optind]);
        return 1;
    }
    if (c.listen.n == 0 && c.tls_listen.n == 0) c.listen.v[c.listen.n++] = "127.0.0.1:8080";
    if (c.tls_listen.n != 0 && (!c.tls_cert[0] || !c.tls_key[0])) {
        fprintf(stderr, "apiplatform-dp: --tls-listen needs --tls-cert and --tls-key\n");
        return 1;
    }
    if (!c.cp_cert[0] != !c.cp_key[0]) {
        fprintf(stderr, "apiplatform-dp: --cp-cert and --cp-key go together\n");
        return 1;
    }
    if (!c.node_id[0] && (gethostname(c.node_id, sizeof(c.node_id) - 1) != 0 || !c.node_id[0])) {
        fprintf(stderr, "apiplatform-dp: cannot get the hostname; give --node-id\n");
        return 1;
    }
    ap_log_parse_level(c.log_level, &ap_log_min_level);
    char *token = NULL;
    if (node_token(&c, &token) != 0) return 1;

    char err[512];
    int log_fd = dp_accesslog_open(c.access_log, err, sizeof(err));
    if (log_fd < 0) {
        fprintf(stderr, "apiplatform-dp: --access-log: %s\n", err);
        return 1;
    }

    /* every thread started from here on leaves SIGTERM/SIGINT to sigwait */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    dp_server_opts_t so = {
        .listen = c.listen.v,
        .n_listen = c.listen.n,
        .tls_listen = c.tls_listen.v,
        .n_tls_listen = c.tls_listen.n,
        .tls_cert = c.tls_cert,
        .tls_key = c.tls_key,
        .threads = (size_t)c.threads,
        .handler = {.max_header_bytes = c.max_header_bytes,
                    .max_body_bytes = c.max_body_bytes,
                    .trusted_proxies = c.trusted,
                    .n_trusted_proxies = c.n_trusted},
        .access_log_fd = log_fd,
    };
    dp_server_t *srv = dp_server_new(&so, err, sizeof(err));
    if (srv == NULL) {
        fprintf(stderr, "apiplatform-dp: %s\n", err);
        return 1;
    }
    dp_admin_opts_t ao = {.listen = c.admin_listen, .node_id = c.node_id};
    dp_admin_t *admin = dp_admin_new(&ao, err, sizeof(err));
    if (admin == NULL) {
        fprintf(stderr, "apiplatform-dp: %s\n", err);
        return 1;
    }

    dp_sync_opts_t sy = {
        .cp_addr = c.cp,
        .tls = {opt_str(c.cp_cert), opt_str(c.cp_key), opt_str(c.cp_ca), 0},
        .node_token = token,
        .node_id = c.node_id,
        .labels = opt_str(c.labels),
        .cache_path = opt_str(c.cache),
        .drain_usage = dp_usage_drain,
    };
    dp_quota_set_wait_ms((int)c.quota_wait_ms);
    dp_quota_set_idle_ms((int)c.quota_idle_ms);
    if (dp_sync_start(&sy, err, sizeof(err)) != 0) {
        fprintf(stderr, "apiplatform-dp: %s\n", err);
        return 1;
    }
    if (dp_server_start(srv, err, sizeof(err)) != 0 ||
        dp_admin_start(admin, err, sizeof(err)) != 0) {
        fprintf(stderr, "apiplatform-dp: %s\n", err);
        dp_sync_stop();
        return 1;
    }

    int is_tls;
    const char *addr;
    for (size_t i = 0; (addr = dp_server_listener(srv, i, &is_tls)) != NULL; i++)
        ap_log(AP_LOG_INFO, is_tls ? "tls_listening" : "listening", "addr=%s", addr);
    ap_log(AP_LOG_INFO, "admin_listening", "addr=%s", dp_admin_addr(admin));
    char q[300];
    ap_log(AP_LOG_INFO, "started",
           "node_id=%s threads=%ld cp=%s cp_tls=%s max_body_bytes=%zu max_header_bytes=%zu",
           ap_log_quote(c.node_id, q, sizeof(q)), c.threads, c.cp,
           c.cp_ca[0] || c.cp_cert[0] ? "on" : "off", c.max_body_bytes, c.max_header_bytes);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    ap_log(AP_LOG_INFO, "stopping", "signal=%s grace_ms=%ld", sig == SIGINT ? "INT" : "TERM",
           c.grace_ms);
    dp_admin_set_draining(admin);
    dp_server_stop(srv, (int)c.grace_ms);
    size_t left = dp_handler_inflight();
    dp_sync_stop();
    dp_admin_stop(admin);
    ap_log(AP_LOG_INFO, "stopped", "unfinished_requests=%zu", left);
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return 0;
}
