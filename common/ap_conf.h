/* Config files for the platform's daemons: `name = value` lines whose names
 * are the long flags (without "--"); '#' starts a comment line. Flags given
 * on the command line are applied after the file, so they win. */
#ifndef AP_CONF_H
#define AP_CONF_H

#include <getopt.h>

/* Applies one setting: opt is the matching option's val (0 for a name no
 * option has). Returns 0, or -1 after printing what is wrong. */
typedef int (*ap_conf_set_fn)(void *ctx, int opt, const char *name, const char *value);

/* Reads path, calling set for each line with an option that takes an
 * argument (options whose val is skip_val, like --config itself, excepted).
 * Returns 0, or -1 after printing the file and line of the first error. */
int ap_conf_read(const char *prog, const char *path, const struct option *opts, int skip_val,
                 ap_conf_set_fn set, void *ctx);

/* Finds `--config FILE` / `--config=FILE` in argv and reads that file (the
 * flags themselves are parsed afterwards by the caller, so they win).
 * Returns 0 (also when there is no --config), or -1 as ap_conf_read. */
int ap_conf_from_argv(const char *prog, int argc, char **argv, const struct option *opts,
                      int config_val, ap_conf_set_fn set, void *ctx);

#endif
