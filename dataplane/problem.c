/* The table of the data plane's errors and the problem+json bodies built
 * from it (RFC 9457). The `type` of each is a stable URL ending in the code,
 * so clients can switch on either. Details tell the caller what to change;
 * none of them echoes anything the caller sent. */
#include "problem.h"

#include <stdio.h>
#include <string.h>

#define TYPE_BASE "https://apiplatform.dev/problems/"

static const dp_problem_t PROBLEMS[DP_PROBLEM_COUNT] = {
    [DP_PROBLEM_BAD_REQUEST] = {"bad_request", 400, "Bad request",
                                "The request is not valid HTTP; check its syntax."},
    [DP_PROBLEM_NOT_READY] = {"not_ready", 503, "Gateway not ready",
                              "The gateway has not received its configuration yet; retry "
                              "shortly."},
    [DP_PROBLEM_NOT_FOUND] = {"not_found", 404, "Not found",
                              "No API endpoint matches this host and path; check the URL "
                              "(prefix, collection path, endpoint path)."},
    [DP_PROBLEM_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405, "Method not allowed",
                                       "The endpoint exists but not for this method; the Allow "
                                       "header lists the methods it accepts."},
    [DP_PROBLEM_TOKEN_MISSING] = {"token_missing", 401, "API token missing",
                                  "Send your API token in the API-Token header, or with HTTP "
                                  "Basic authentication as the password of user api-token."},
    [DP_PROBLEM_TOKEN_INVALID] = {"token_invalid", 401, "API token invalid",
                                  "The API token is not known; check that it was copied "
                                  "completely, or ask for a new one."},
    [DP_PROBLEM_TOKEN_EXPIRED] = {"token_expired", 401, "API token expired",
                                  "The API token has expired; ask for a new one."},
    [DP_PROBLEM_TOKEN_REVOKED] = {"token_revoked", 401, "API token revoked",
                                  "The API token was revoked (or replaced by a refresh); use "
                                  "its replacement or ask for a new one."},
    [DP_PROBLEM_CLIENT_DISABLED] = {"client_disabled", 401, "Client disabled",
                                    "The client this token belongs to is disabled; contact the "
                                    "API provider."},
    [DP_PROBLEM_PROFILE_DISABLED] = {"profile_disabled", 401, "Access profile disabled",
                                     "The access profile of this token is disabled; contact the "
                                     "API provider."},
    [DP_PROBLEM_COLLECTION_DENIED] = {"collection_denied", 403, "Collection not allowed",
                                      "This token's access profile does not include the API "
                                      "collection of this endpoint."},
    [DP_PROBLEM_COLLECTION_INACTIVE] = {"collection_inactive", 403, "Collection inactive",
                                        "The API collection of this endpoint is not active."},
    [DP_PROBLEM_ENDPOINT_INACTIVE] = {"endpoint_inactive", 403, "Endpoint inactive",
                                      "This endpoint is not active."},
    [DP_PROBLEM_IP_DENIED] = {"ip_denied", 403, "Source address not allowed",
                              "Calls with this token are not allowed from your IP address."},
    [DP_PROBLEM_RATE_LIMITED] = {"rate_limited", 429, "Rate limit exceeded",
                                 "Too many requests; retry after the time in Retry-After."},
    [DP_PROBLEM_QUOTA_EXCEEDED] = {"quota_exceeded", 429, "Quota exceeded",
                                   "The usage quota of this access profile is used up for the "
                                   "current period; retry after the time in Retry-After."},
    [DP_PROBLEM_QUOTA_UNAVAILABLE] = {"quota_unavailable", 503, "Quota cannot be checked",
                                      "This access profile has a usage quota and the gateway "
                                      "cannot reach the quota authority to confirm it; nothing "
                                      "is admitted unconfirmed. Retry after the time in "
                                      "Retry-After."},
    [DP_PROBLEM_BODY_TOO_LARGE] = {"body_too_large", 413, "Request body too large",
                                   "The request body is larger than this gateway accepts."},
    [DP_PROBLEM_HEADERS_TOO_LARGE] = {"headers_too_large", 431, "Request headers too large",
                                      "The request headers (or the URL, or one header) are larger "
                                      "than this gateway accepts."},
    [DP_PROBLEM_UPSTREAM_UNREACHABLE] = {"upstream_unreachable", 502, "Upstream unreachable",
                                         "The service behind this endpoint could not be reached "
                                         "or did not answer properly."},
    [DP_PROBLEM_UPSTREAM_TIMEOUT] = {"upstream_timeout", 504, "Upstream timeout",
                                     "The service behind this endpoint did not answer within the "
                                     "endpoint's timeout."},
    [DP_PROBLEM_INTERNAL_ERROR] = {"internal_error", 500, "Internal error",
                                   "The gateway failed to handle the request; retry, and report "
                                   "the request_id if it persists."},
};

const dp_problem_t *dp_problem(dp_problem_code_t code)
{
    return &PROBLEMS[code < DP_PROBLEM_COUNT ? code : DP_PROBLEM_INTERNAL_ERROR];
}

dp_problem_code_t dp_problem_for_status(int status)
{
    switch (status) {
    case 404:
        return DP_PROBLEM_NOT_FOUND;
    case 405:
        return DP_PROBLEM_METHOD_NOT_ALLOWED;
    case 413:
        return DP_PROBLEM_BODY_TOO_LARGE;
    case 431:
        return DP_PROBLEM_HEADERS_TOO_LARGE;
    case 502:
        return DP_PROBLEM_UPSTREAM_UNREACHABLE;
    case 503:
        return DP_PROBLEM_NOT_READY;
    case 504:
        return DP_PROBLEM_UPSTREAM_TIMEOUT;
    default:
        return status >= 400 && status < 500 ? DP_PROBLEM_BAD_REQUEST : DP_PROBLEM_INTERNAL_ERROR;
    }
}

const char *dp_problem_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } R[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {410, "Gone"},
        {413, "Payload Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof(R) / sizeof(R[0]); i++)
        if (R[i].status == status) return R[i].reason;
    return "Unknown";
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

size_t dp_json_quote(char *out, const char *s, size_t len)
{
    static const char HEX[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
            i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            switch (ch) {
            case '\n':
                *o++ = '\\', *o++ = 'n';
                break;
            case '\r':
                *o++ = '\\', *o++ = 'r';
                break;
            case '\t':
                *o++ = '\\', *o++ = 't';
                break;
            default:
                memcpy(o, "\\u00", 4);
                o += 4;
                *o++ = HEX[ch >> 4];
                *o++ = HEX[ch & 15];
            }
            i++;
        } else if (ch < 0x80) {
            *o++ = (char)ch;
            i++;
        } else {
            size_t n = utf8_len(p + i, len - i);
            if (n == 0) {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                i++;
            } else {
                memcpy(o, p + i, n);
                o += n;
                i += n;
            }
        }
    }
    *o++ = '"';
    return (size_t)(o - out);
}

h2o_iovec_t dp_problem_body(h2o_mem_pool_t *pool, const dp_problem_t *p, const char *detail,
                            const char *request_id)
{
    if (detail == NULL) detail = p->detail;
    size_t tl = strlen(p->title), dl = strlen(detail), cl = strlen(p->code),
           rl = strlen(request_id);
    size_t cap = 128 + sizeof(TYPE_BASE) + dp_json_quoted_max(cl) * 2 + dp_json_quoted_max(tl) +
                 dp_json_quoted_max(dl) + dp_json_quoted_max(rl);
    char *buf = h2o_mem_alloc_pool(pool, cap), *o = buf;
    o += sprintf(o, "{\"type\":\"" TYPE_BASE "%s\",\"title\":", p->code);
    o += dp_json_quote(o, p->title, tl);
    o += sprintf(o, ",\"status\":%d,\"detail\":", p->status);
    o += dp_json_quote(o, detail, dl);
    o += sprintf(o, ",\"code\":");
    o += dp_json_quote(o, p->code, cl);
    o += sprintf(o, ",\"request_id\":");
    o += dp_json_quote(o, request_id, rl);
    *o++ = '}';
    *o++ = '\n';
    return h2o_iovec_init(buf, (size_t)(o - buf));
}

void dp_problem_send(h2o_req_t *req, dp_problem_code_t code, const char *detail,
                     const char *request_id)
{
    const dp_problem_t *p = dp_problem(code);
    h2o_iovec_t body = dp_problem_body(&req->pool, p, detail, request_id);
    req->res.status = p->status;
    req->res.reason = dp_problem_reason(p->status);
    req->res.content_length = body.len;
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                   H2O_STRLIT("application/problem+json"), 1);
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"),
                   1);
    h2o_send_inline(req, body.base, body.len);
}
