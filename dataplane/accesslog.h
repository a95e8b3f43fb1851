/* The data plane's access log: one JSON object per request and line (time,
 * request_id, client, profile, token id, collection, endpoint, method, path,
 * status, stable code, latencies, bytes, remote address). Token secrets never
 * reach it; only the token's id does. */
#ifndef DP_ACCESSLOG_H
#define DP_ACCESSLOG_H

#include <h2o.h>

/* Opens the log: "-" is stdout, anything else a file opened for appending.
 * Returns the fd, or -1 with a reason in err. */
int dp_accesslog_open(const char *path, char *err, size_t errlen);
/* Logs every request of pathconf to fd, one write(2) per line so lines of
 * different threads never interleave. */
void dp_accesslog_register(h2o_pathconf_t *pathconf, int fd);

#endif
