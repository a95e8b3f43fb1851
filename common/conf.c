/* `name = value` config files (see ap_conf.h). */
#include "ap_conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ap_conf_read(const char *prog, const char *path, const struct option *opts, int skip_val,
                 ap_conf_set_fn set, void *ctx)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: --config: cannot read %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = line + strspn(line, " \t");
        if (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0') continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            fprintf(stderr, "%s: %s:%d: expected name = value\n", prog, path, lineno);
            rc = -1;
            break;
        }
        char *name = s, *v = eq + 1;
        for (char *e = eq; e > name && (e[-1] == ' ' || e[-1] == '\t'); e--)
            e[-1] = '\0';
        *eq = '\0';
        v += strspn(v, " \t");
        v[strcspn(v, "\r\n")] = '\0';
        for (size_t n = strlen(v); n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'); n--)
            v[n - 1] = '\0';
        int opt = 0;
        for (const struct option *o = opts; o->name; o++)
            if (strcmp(o->name, name) == 0 && o->has_arg && o->val != skip_val) opt = o->val;
        if (set(ctx, opt, name, v) != 0) {
            fprintf(stderr, "%s: in %s:%d\n", prog, path, lineno);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

int ap_conf_from_argv(const char *prog, int argc, char **argv, const struct option *opts,
                      int config_val, ap_conf_set_fn set, void *ctx)
{
    for (int i = 1; i < argc; i++) {
        const char *f = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            f = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            f = argv[i] + 9;
        if (f != NULL && ap_conf_read(prog, f, opts, config_val, set, ctx) != 0) return -1;
    }
    return 0;
}
