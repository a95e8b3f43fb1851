/* Error responses of the data plane: RFC 9457 application/problem+json
 * bodies carrying a stable machine code (the same code the access log and
 * call logs record). Every error the data plane can answer is one row of the
 * table in problem.c; a new error is a new row and a new enum value. */
#ifndef DP_PROBLEM_H
#define DP_PROBLEM_H

#include <h2o.h>

/* The stable codes; the order matches the table in problem.c. */
typedef enum {
    DP_PROBLEM_BAD_REQUEST,
    DP_PROBLEM_NOT_READY,
    DP_PROBLEM_NOT_FOUND,
    DP_PROBLEM_METHOD_NOT_ALLOWED,
    DP_PROBLEM_TOKEN_MISSING,
    DP_PROBLEM_TOKEN_INVALID,
    DP_PROBLEM_TOKEN_EXPIRED,
    DP_PROBLEM_TOKEN_REVOKED,
    DP_PROBLEM_CLIENT_DISABLED,
    DP_PROBLEM_PROFILE_DISABLED,
    DP_PROBLEM_COLLECTION_DENIED,
    DP_PROBLEM_COLLECTION_INACTIVE,
    DP_PROBLEM_ENDPOINT_INACTIVE,
    DP_PROBLEM_IP_DENIED,
    DP_PROBLEM_RATE_LIMITED,
    DP_PROBLEM_QUOTA_EXCEEDED,
    DP_PROBLEM_QUOTA_UNAVAILABLE,
    DP_PROBLEM_BODY_TOO_LARGE,
    DP_PROBLEM_HEADERS_TOO_LARGE,
    DP_PROBLEM_UPSTREAM_UNREACHABLE,
    DP_PROBLEM_UPSTREAM_TIMEOUT,
    DP_PROBLEM_INTERNAL_ERROR,
    DP_PROBLEM_COUNT
} dp_problem_code_t;

/* One row: what a caller sees for a code. */
typedef struct st_dp_problem_t {
    /* the stable code, e.g. "token_invalid" (also the last part of `type`) */
    const char *code;
    /* HTTP status */
    int status;
    /* short, the same for every occurrence */
    const char *title;
    /* what happened and what to do about it (the default `detail`) */
    const char *detail;
} dp_problem_t;

/* The row of a code. */
const dp_problem_t *dp_problem(dp_problem_code_t code);
/* The row that best describes an error status h2o produced on its own
 * (413 -> body_too_large, 431 -> headers_too_large, ...); never NULL. */
dp_problem_code_t dp_problem_for_status(int status);
/* The standard reason phrase of a status ("Not Found"), or "Unknown". */
const char *dp_problem_reason(int status);

/* The JSON body, allocated from pool: type, title, status, detail (the row's
 * when detail is NULL), code, request_id. */
h2o_iovec_t dp_problem_body(h2o_mem_pool_t *pool, const dp_problem_t *p, const char *detail,
                            const char *request_id);
/* Answers req with the problem: status, reason, Content-Type and body.
 * Headers already in req->res.headers (Allow, WWW-Authenticate, X-Request-Id)
 * are kept. */
void dp_problem_send(h2o_req_t *req, dp_problem_code_t code, const char *detail,
                     const char *request_id);

/* Appends s to out as a JSON string (quotes included), escaping what JSON
 * requires and replacing invalid UTF-8 with U+FFFD. out must have room for
 * dp_json_quoted_max(len) bytes; returns the bytes written. Shared with the
 * access log. */
size_t dp_json_quote(char *out, const char *s, size_t len);
#define dp_json_quoted_max(len) ((len)*6 + 2)

#endif
