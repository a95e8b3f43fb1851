/* apictl's insides: the noun/verb/flag/column tables (nouns.c), argv to a
 * request message plus help (cli.c), the text conversions a plain field
 * set cannot do (convert.c), printing answers (output.c), and the verbs that
 * are more than one call (run.c); main.c makes the calls. Bundle files and
 * OpenAPI documents are bundle.h's. A new noun or verb is a new row in
 * nouns.c. */
#ifndef CTL_H
#define CTL_H

#include "ap_rpc.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdio.h>

/* Stores a flag's text in the request field at `path` (ap_msg_set_text's
 * shape). Returns 0, or -1 with a reason in err. */
typedef int (*ctl_set_fn)(ProtobufCMessage *req, const char *path, const char *text, char *err,
                          size_t errlen);
/* The text of a table cell for one listed item (malloc'd). */
typedef char *(*ctl_cell_fn)(const ProtobufCMessage *item, const char *path);

/* Inputs of a verb that are no request field (a file to read or write, what
 * an OpenAPI import needs), kept in ctl_cli_t.opts for the verb's run. */
typedef enum en_ctl_opt_t {
    CTL_OPT_NONE,
    CTL_OPT_FILE,
    CTL_OPT_UPSTREAM,
    CTL_OPT_NAME,
    CTL_OPT_VERSION,
    CTL_OPTS
} ctl_opt_t;

/* A flag of a verb: how its text lands in the request. */
typedef struct st_ctl_flag_t {
    /* "--version" */
    const char *name;
    /* placeholder for the value in help ("V"); NULL for a switch, which sets "true" */
    const char *arg;
    /* request field path; an update's mask gets the field under the resource
     * ("endpoint.target.url" -> "target") */
    const char *path;
    const char *help;
    /* converts and stores the text; NULL = ap_msg_set_text */
    ctl_set_fn set;
    /* "path=value" also set whenever the flag is given (the target kind) */
    const char *also;
    /* not NONE: the text goes to cli->opts[opt] instead (path is NULL) */
    ctl_opt_t opt;
} ctl_flag_t;

/* A column of a noun's list table. */
typedef struct st_ctl_column_t {
    const char *header;
    /* field of the item */
    const char *path;
    /* NULL = the field's value as `get` prints it */
    ctl_cell_fn cell;
} ctl_column_t;

/* How a verb prints its answer in table mode (json mode prints it whole). */
typedef enum en_ctl_show_t {
    CTL_SHOW_FIELDS,   /* "field: value" lines */
    CTL_SHOW_LIST,     /* every page's items as the noun's table */
    CTL_SHOW_DELETED,  /* "deleted <id> (revision N)" */
    CTL_SHOW_SECRET,   /* the token's fields and, once, its secret */
    CTL_SHOW_REVISION, /* the number */
    CTL_SHOW_PLAN,     /* an apply's changes, then "applied: revision N" */
    CTL_SHOW_DIFF,     /* the changes alone; exit status 2 when there are any */
    CTL_SHOW_BUNDLE,   /* the bundle file (YAML unless -o json) to -f or stdout */
    CTL_SHOW_CHANGES,  /* the change log, a row per change */
    CTL_SHOW_USAGE,    /* usage totals, then the top clients and endpoints */
} ctl_show_t;

struct st_ctl_cli_t;
/* A verb that is more than one call and a print. Returns the exit status,
 * or -1 with st set. */
typedef int (*ctl_run_fn)(struct st_ctl_cli_t *cli, ap_status_t *st);

#define CTL_FLAG_TABLES 4

typedef struct st_ctl_verb_t {
    /* NULL when the noun is the whole command ("apictl revision") */
    const char *name;
    /* what follows "apictl NOUN VERB" in help */
    const char *usage;
    const char *help;
    /* Admin method: "/apiplatform.v1.Admin/<rpc>"; NULL ends a verb table */
    const char *rpc;
    const ProtobufCMessageDescriptor *req;
    const ProtobufCMessageDescriptor *resp;
    /* request field the positional ID|NAME fills; NULL = takes none */
    const char *arg;
    /* NULL-name-terminated flag tables, as many as CTL_FLAG_TABLES */
    const ctl_flag_t *flags[CTL_FLAG_TABLES];
    ctl_show_t show;
    /* NULL = send the request (every page) and print the answers */
    ctl_run_fn run;
    /* the option the positional argument fills instead of a request field */
    ctl_opt_t arg_opt;
} ctl_verb_t;

typedef struct st_ctl_noun_t {
    const char *name;
    const char *help;
    const ctl_verb_t *verbs;
    /* the list table; NULL-header-terminated */
    const ctl_column_t *columns;
} ctl_noun_t;

/* Every noun; NULL-name-terminated. */
extern const ctl_noun_t ctl_nouns[];

/* A parsed command line. */
typedef struct st_ctl_cli_t {
    /* global flags (server defaulted from the environment) */
    const char *server;
    /* --token only; main.c falls back to the environment */
    const char *token;
    const char *output;
    const char *timeout;
    ap_tls_t tls;
    int json;
    int yaml;
    int timeout_ms;
    /* -h/--help was given: show help for the noun and verb reached */
    int help;
    const ctl_noun_t *noun;
    const ctl_verb_t *verb;
    /* the request the positional argument and flags filled (ap_msg_free) */
    ProtobufCMessage *req;
    /* the flags and argument that are no request field, by ctl_opt_t */
    const char *opts[CTL_OPTS];
    /* main.c: the channel and admin token, from the first call on */
    ap_channel_t *ch;
    const char *bearer;
    char token_buf[4096];
} ctl_cli_t;

/* cli.c: fills cli from argv. Returns 0 (verb may still be NULL when the
 * command is incomplete) or -1 with st set for a usage error. */
int ctl_cli_parse(ctl_cli_t *cli, int argc, char **argv, ap_status_t *st);
/* Help for the whole tool, a noun, or a verb. */
void ctl_usage(FILE *out, const ctl_noun_t *noun, const ctl_verb_t *verb);

/* convert.c: flag setters */
int ctl_set_list(ProtobufCMessage *req, const char *path, const char *text, char *err,
                 size_t errlen);
int ctl_set_rate(ProtobufCMessage *req, const char *path, const char *text, char *err,
                 size_t errlen);
int ctl_set_time(ProtobufCMessage *req, const char *path, const char *text, char *err,
                 size_t errlen);
int ctl_set_time_or_ago(ProtobufCMessage *req, const char *path, const char *text, char *err,
                        size_t errlen);
int ctl_set_from_now(ProtobufCMessage *req, const char *path, const char *text, char *err,
                     size_t errlen);
int ctl_set_duration(ProtobufCMessage *req, const char *path, const char *text, char *err,
                     size_t errlen);
int ctl_set_labels(ProtobufCMessage *req, const char *path, const char *text, char *err,
                   size_t errlen);
/* convert.c: table cells */
char *ctl_cell_rate(const ProtobufCMessage *item, const char *path);
char *ctl_cell_target(const ProtobufCMessage *item, const char *path);
char *ctl_cell_token_state(const ProtobufCMessage *item, const char *path);

/* output.c: the message-typed field `name` of m, or NULL */
const ProtobufCMessage *ctl_sub(const ProtobufCMessage *m, const char *name);
/* Prints the answers (one per page for lists) as the verb and -o ask.
 * Returns the exit status, or -1 with st set. */
int ctl_print(const ctl_cli_t *cli, ProtobufCMessage *const *resps, size_t n, ap_status_t *st);

/* main.c: one call of the Admin method `rpc` ("GetCollection"); 0 with *resp
 * set (ap_msg_free), or -1 with st set. */
int ctl_call(ctl_cli_t *cli, const char *rpc, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, ap_status_t *st);
/* The verb's request to its method, following pages, and the answers
 * printed; returns ctl_print's status. */
int ctl_send(ctl_cli_t *cli, ap_status_t *st);

/* run.c: the verbs' runs */
int ctl_run_apply(ctl_cli_t *cli, ap_status_t *st);
int ctl_run_diff(ctl_cli_t *cli, ap_status_t *st);
int ctl_run_import(ctl_cli_t *cli, ap_status_t *st);
int ctl_run_openapi(ctl_cli_t *cli, ap_status_t *st);

#endif
