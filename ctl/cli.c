/* The command line: `apictl [global flags] NOUN VERB [ID|NAME] [flags]`,
 * global flags allowed anywhere. The verb's row says which request to build;
 * the positional argument and each flag are stored into it as they are read,
 * and for updates the fields the flags touched become the update mask. */
#include "ctl.h"

#include "ap_msg.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Flags of apictl itself; the value is kept at `offset` in ctl_cli_t. */
static const struct {
    const char *name;
    const char *alias;
    const char *arg;
    size_t offset;
    const char *help;
} globals[] = {
    {"--server", NULL, "ADDR", offsetof(ctl_cli_t, server),
     "Admin API address (env APICTL_SERVER; default 127.0.0.1:7400)"},
    {"--token", NULL, "TOKEN", offsetof(ctl_cli_t, token),
     "admin token (env APICTL_TOKEN, or the file named by APICTL_TOKEN_FILE)"},
    {"--output", "-o", "FORMAT", offsetof(ctl_cli_t, output),
     "table, json or yaml (default table)"},
    {"--timeout", NULL, "MS", offsetof(ctl_cli_t, timeout),
     "deadline of each call in milliseconds (default 10000)"},
    {"--ca", NULL, "FILE", offsetof(ctl_cli_t, tls.ca_file),
     "CA certificate to verify the server with (turns on TLS)"},
    {"--cert", NULL, "FILE", offsetof(ctl_cli_t, tls.cert_file), "client certificate (mTLS)"},
    {"--key", NULL, "FILE", offsetof(ctl_cli_t, tls.key_file), "client private key (mTLS)"},
};

#define NGLOBALS (sizeof(globals) / sizeof(globals[0]))

static int usage_error(ap_status_t *st, const ctl_cli_t *cli, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets st to the problem and where to read about the command. */
static int usage_error(ap_status_t *st, const ctl_cli_t *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof(st->message), fmt, ap);
    va_end(ap);
    size_t used = strlen(st->message);
    snprintf(st->message + used, sizeof(st->message) - used, " (see 'apictl%s%s%s%s --help')",
             cli->noun ? " " : "", cli->noun ? cli->noun->name : "",
             cli->verb && cli->verb->name ? " " : "",
             cli->verb && cli->verb->name ? cli->verb->name : "");
    st->code = GRPC_STATUS_INVALID_ARGUMENT;
    return -1;
}

static int is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

static int global_index(const char *a, size_t len)
{
    for (size_t i = 0; i < NGLOBALS; i++)
        if ((strncmp(globals[i].name, a, len) == 0 && globals[i].name[len] == '\0') ||
            (globals[i].alias && strncmp(globals[i].alias, a, len) == 0 &&
             globals[i].alias[len] == '\0'))
            return (int)i;
    return -1;
}

static const ctl_flag_t *find_flag(const ctl_verb_t *verb, const char *a, size_t len)
{
    for (size_t t = 0; verb != NULL && t < CTL_FLAG_TABLES && verb->flags[t] != NULL; t++)
        for (const ctl_flag_t *f = verb->flags[t]; f->name != NULL; f++)
            if (strncmp(f->name, a, len) == 0 && f->name[len] == '\0') return f;
    return NULL;
}

/* An update names what it changes: the field under the resource message
 * that a flag wrote ("endpoint.target.url" -> "target"), once. */
static void add_to_mask(ProtobufCMessage *req, const char *path)
{
    const char *dot = strchr(path, '.');
    char field[64], err[64];
    if (dot == NULL || ap_msg_field(req->descriptor, "update_mask") == NULL) return;
    snprintf(field, sizeof(field), "%.*s", (int)strcspn(dot + 1, "."), dot + 1);
    for (size_t i = 0; i < ap_msg_count(req, "update_mask"); i++)
        if (strcmp(ap_msg_get_str_at(req, "update_mask", i), field) == 0) return;
    ap_msg_set_text(req, "update_mask", field, err, sizeof(err));
}

static int apply_flag(ctl_cli_t *cli, const ctl_flag_t *f, const char *value, ap_status_t *st)
{
    char err[256], path[64];
    if (f->opt != CTL_OPT_NONE) {
        cli->opts[f->opt] = value;
        return 0;
    }
    if ((f->set ? f->set : ap_msg_set_text)(cli->req, f->path, value, err, sizeof(err)) != 0)
        return usage_error(st, cli, "%s: %s", f->name, err);
    if (f->also != NULL) {
        const char *eq = strchr(f->also, '=');
        snprintf(path, sizeof(path), "%.*s", (int)(eq - f->also), f->also);
        if (ap_msg_set_text(cli->req, path, eq + 1, err, sizeof(err)) != 0)
            return usage_error(st, cli, "%s: %s", f->name, err);
    }
    add_to_mask(cli->req, f->path);
    return 0;
}

/* Starts the verb's request. A create or update always carries its resource
 * message, even when no flag wrote into it (an update that empties a list),
 * so the server never has to tell "empty" from "missing". */
static void select_verb(ctl_cli_t *cli, const ctl_verb_t *verb)
{
    cli->verb = verb;
    cli->req = ap_msg_new(verb->req);
    for (unsigned i = 0; i < verb->req->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &verb->req->fields[i];
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED)
            *(ProtobufCMessage **)((char *)cli->req + f->offset) = ap_msg_new(f->descriptor);
    }
}

/* A word that is not a flag: the noun, then the verb, then the argument. */
static int take_word(ctl_cli_t *cli, const char *a, int *have_arg, ap_status_t *st)
{
    char err[256];
    if (cli->noun == NULL) {
        for (const ctl_noun_t *n = ctl_nouns; n->name != NULL && cli->noun == NULL; n++)
            if (strcmp(n->name, a) == 0) cli->noun = n;
        if (cli->noun == NULL) return usage_error(st, cli, "unknown noun \"%s\"", a);
        if (cli->noun->verbs[0].name == NULL) select_verb(cli, &cli->noun->verbs[0]);
        return 0;
    }
    if (cli->verb == NULL) {
        for (const ctl_verb_t *v = cli->noun->verbs; v->rpc != NULL; v++)
            if (strcmp(v->name, a) == 0) {
                select_verb(cli, v);
                return 0;
            }
        return usage_error(st, cli, "unknown verb \"%s\" for %s", a, cli->noun->name);
    }
    if ((cli->verb->arg == NULL && cli->verb->arg_opt == CTL_OPT_NONE) || *have_arg)
        return usage_error(st, cli, "unexpected argument \"%s\"", a);
    *have_arg = 1;
    if (cli->verb->arg_opt != CTL_OPT_NONE) {
        cli->opts[cli->verb->arg_opt] = a;
        return 0;
    }
    if (ap_msg_set_text(cli->req, cli->verb->arg, a, err, sizeof(err)) != 0)
        return usage_error(st, cli, "%s", err);
    return 0;
}

/* Defaults and checks of the global flags. */
static int finish_globals(ctl_cli_t *cli, ap_status_t *st)
{
    char *end;
    if (cli->server == NULL && (cli->server = getenv("APICTL_SERVER")) == NULL)
        cli->server = "127.0.0.1:7400";
    if (cli->output != NULL && strcmp(cli->output, "json") != 0 &&
        strcmp(cli->output, "yaml") != 0 && strcmp(cli->output, "table") != 0)
        return usage_error(st, cli, "-o: \"%s\" is not table, json or yaml", cli->output);
    cli->json = cli->output != NULL && strcmp(cli->output, "json") == 0;
    cli->yaml = cli->output != NULL && strcmp(cli->output, "yaml") == 0;
    cli->timeout_ms = 10000;
    if (cli->timeout != NULL) {
        long ms = strtol(cli->timeout, &end, 10);
        if (cli->timeout[0] < '0' || cli->timeout[0] > '9' || *end != '\0' || ms <= 0 ||
            ms > 3600000)
            return usage_error(st, cli, "--timeout: \"%s\" is not a number of milliseconds",
                               cli->timeout);
        cli->timeout_ms = (int)ms;
    }
    return 0;
}

int ctl_cli_parse(ctl_cli_t *cli, int argc, char **argv, ap_status_t *st)
{
    int have_arg = 0;
    for (int i = 1; i < argc; i++)
        cli->help |= is_help(argv[i]);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value;
        if (is_help(a)) continue;
        if (a[0] != '-' || a[1] == '\0') {
            if (take_word(cli, a, &have_arg, st) != 0) return -1;
            continue;
        }
        size_t len = strcspn(a, "=");
        int g = global_index(a, len);
        const ctl_flag_t *f = g < 0 ? find_flag(cli->verb, a, len) : NULL;
        if (g < 0 && f == NULL)
            return usage_error(st, cli, "unknown flag %.*s%s", (int)len, a,
                               cli->verb ? "" : "; a verb's flags go after the verb");
        if (a[len] == '=')
            value = a + len + 1;
        else if (g < 0 && f->arg == NULL)
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return usage_error(st, cli, "%.*s needs a value", (int)len, a);
        if (g >= 0)
            *(const char **)((char *)cli + globals[g].offset) = value;
        else if (apply_flag(cli, f, value, st) != 0)
            return -1;
    }

    if (cli->help || cli->verb == NULL) return 0;
    if (finish_globals(cli, st) != 0) return -1;
    if ((cli->verb->arg != NULL || cli->verb->arg_opt != CTL_OPT_NONE) && !have_arg)
        return usage_error(st, cli, "missing argument: apictl %s %s %s", cli->noun->name,
                           cli->verb->name, cli->verb->usage);
    if (ap_msg_field(cli->verb->req, "update_mask") != NULL &&
        ap_msg_count(cli->req, "update_mask") == 0)
        return usage_error(st, cli, "nothing to change: give at least one field flag");
    return 0;
}

/* Help text is rows of "  LEFT  help" with the help column aligned. */
static void row(FILE *out, int width, const char *a, const char *b, const char *help)
{
    int n = fprintf(out, "  %s%s%s", a, b[0] ? " " : "", b);
    fprintf(out, "%*s%s\n", width + 4 - n, "", help);
}

static int row_width(const char *a, const char *b)
{
    return (int)(strlen(a) + (b[0] ? 1 + strlen(b) : 0));
}

static const char *global_names(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", globals[i].alias ? globals[i].alias : "",
             globals[i].alias ? ", " : "", globals[i].name);
    return buf;
}

static void usage_globals(FILE *out)
{
    char names[32];
    int width = 0;
    for (size_t i = 0; i < NGLOBALS; i++)
        if (row_width(global_names(i, names, sizeof(names)), globals[i].arg) > width)
            width = row_width(names, globals[i].arg);
    fprintf(out, "\nGlobal flags (anywhere on the line):\n");
    for (size_t i = 0; i < NGLOBALS; i++)
        row(out, width, global_names(i, names, sizeof(names)), globals[i].arg, globals[i].help);
    row(out, width, "-h, --help", "", "show help for apictl, a noun or a verb");
}

void ctl_usage(FILE *out, const ctl_noun_t *noun, const ctl_verb_t *verb)
{
    int width = 0;
    if (noun == NULL) {
        fprintf(out, "usage: apictl [flags] NOUN VERB [ID|NAME] [flags]\n\n"
                     "The command-line client of the API platform's Admin API.\n\nNouns:\n");
        for (const ctl_noun_t *n = ctl_nouns; n->name != NULL; n++)
            if (row_width(n->name, "") > width) width = row_width(n->name, "");
        for (const ctl_noun_t *n = ctl_nouns; n->name != NULL; n++)
            row(out, width, n->name, "", n->help);
        usage_globals(out);
        fprintf(out, "\nRun 'apictl NOUN --help' for a noun's verbs.\n");
        return;
    }
    if (verb == NULL && noun->verbs[0].name == NULL) verb = &noun->verbs[0];
    if (verb == NULL) {
        fprintf(out, "usage: apictl %s VERB [ID|NAME] [flags]\n\n%s: %s.\n\nVerbs:\n", noun->name,
                noun->name, noun->help);
        for (const ctl_verb_t *v = noun->verbs; v->rpc != NULL; v++)
            if (row_width(v->name, v->usage) > width) width = row_width(v->name, v->usage);
        for (const ctl_verb_t *v = noun->verbs; v->rpc != NULL; v++)
            row(out, width, v->name, v->usage, v->help);
        fprintf(out, "\nRun 'apictl %s VERB --help' for a verb's flags.\n", noun->name);
        return;
    }
    fprintf(out, "usage: apictl %s%s%s%s%s\n\n%c%s.\n", noun->name, verb->name ? " " : "",
            verb->name ? verb->name : "", verb->usage[0] ? " " : "", verb->usage,
            toupper((unsigned char)verb->help[0]), verb->help + 1);
    for (size_t t = 0; t < CTL_FLAG_TABLES && verb->flags[t] != NULL; t++)
        for (const ctl_flag_t *f = verb->flags[t]; f->name != NULL; f++)
            if (row_width(f->name, f->arg ? f->arg : "") > width)
                width = row_width(f->name, f->arg ? f->arg : "");
    if (width > 0) fprintf(out, "\nFlags:\n");
    for (size_t t = 0; t < CTL_FLAG_TABLES && verb->flags[t] != NULL; t++)
        for (const ctl_flag_t *f = verb->flags[t]; f->name != NULL; f++)
            row(out, width, f->name, f->arg ? f->arg : "", f->help);
    if (ap_msg_field(verb->req, "update_mask") != NULL)
        fprintf(out, "\nOnly the fields given as flags change.\n");
    usage_globals(out);
}
