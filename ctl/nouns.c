/* What apictl can do, as data: each noun lists its verbs (Admin method,
 * request and response types, where the positional argument and each flag
 * go) and the columns of its list table. cli.c and output.c interpret these
 * rows; adding a verb or a flag is adding a row here. */
#include "ctl.h"

#include "apiplatform/v1/admin.pb-c.h"

#define D(type) (&apiplatform__v1__##type##__descriptor)

/* ---- flags shared by every noun ---- */

static const ctl_flag_t expected_revision[] = {{"--expected-revision", "N", "expected_revision",
                                                "refuse unless the resource is at revision N"},
                                               {NULL}};

static const ctl_flag_t cascade[] = {
    {"--cascade", NULL, "cascade", "also remove references to it instead of refusing"}, {NULL}};

static const ctl_flag_t page_size[] = {
    {"--page-size", "N", "page_size", "items per call (all pages are fetched)"}, {NULL}};

/* ---- collection ---- */

static const ctl_flag_t collection_fields[] = {
    {"--version", "V", "collection.version", "version label, 1-10 characters"},
    {"--description", "D", "collection.description", "free text"},
    {"--path", "P", "collection.path", "URL path (default NAME-VERSION)"},
    {"--active", "BOOL", "collection.active", "serve it (default true)"},
    {NULL}};

static const ctl_flag_t collection_rename[] = {{"--name", "NAME", "collection.name", "new name"},
                                               {NULL}};

static const ctl_flag_t openapi_import[] = {
    {"--upstream", "URL", NULL, "proxy every operation to URL + its path (required)", NULL, NULL,
     CTL_OPT_UPSTREAM},
    {"--name", "N", NULL, "collection name (default info.title)", NULL, NULL, CTL_OPT_NAME},
    {"--version", "V", NULL, "collection version (default info.version)", NULL, NULL,
     CTL_OPT_VERSION},
    {NULL}};

static const ctl_flag_t dry_run[] = {
    {"--dry-run", NULL, "dry_run", "print the plan and change nothing"}, {NULL}};

static const ctl_verb_t collection_verbs[] = {
    {"create",
     "NAME --version V [flags]",
     "create a collection",
     "CreateCollection",
     D(create_collection_request),
     D(collection),
     "collection.name",
     {collection_fields}},
    {"get", "ID|NAME", "show a collection", "GetCollection", D(get_request), D(collection), "id"},
    {"list",
     "[--page-size N]",
     "list collections",
     "ListCollections",
     D(list_request),
     D(list_collections_response),
     NULL,
     {page_size},
     CTL_SHOW_LIST},
    {"update",
     "ID|NAME FLAGS",
     "change the fields given as flags",
     "UpdateCollection",
     D(update_collection_request),
     D(collection),
     "id",
     {collection_rename, collection_fields, expected_revision}},
    {"delete",
     "ID|NAME [--cascade] [--expected-revision N]",
     "delete a collection",
     "DeleteCollection",
     D(delete_request),
     D(delete_response),
     "id",
     {cascade, expected_revision},
     CTL_SHOW_DELETED},
    {"openapi",
     "ID|NAME",
     "print its OpenAPI 3.0 document (JSON unless -o yaml)",
     "GetCollection",
     D(get_request),
     D(collection),
     "id",
     {NULL},
     CTL_SHOW_FIELDS,
     ctl_run_openapi},
    {"import-openapi",
     "FILE --upstream URL [flags]",
     "create or update a collection from an OpenAPI 3.0 document",
     "Apply",
     D(apply_request),
     D(apply_response),
     NULL,
     {openapi_import, dry_run},
     CTL_SHOW_PLAN,
     ctl_run_import,
     CTL_OPT_FILE},
    {NULL}};

static const ctl_column_t collection_columns[] = {{"ID", "id"},
                                                  {"NAME", "name"},
                                                  {"VERSION", "version"},
                                                  {"PATH", "path"},
                                                  {"ACTIVE", "active"},
                                                  {"REVISION", "revision"},
                                                  {NULL}};

/* ---- endpoint ---- */

static const ctl_flag_t endpoint_fields[] = {
    {"--name", "N", "endpoint.name", "unique in the collection (default \"METHOD path\")"},
    {"--method", "M", "endpoint.method", "GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS"},
    {"--path", "P", "endpoint.path", "path template, e.g. /orders/{id}"},
    {"--description", "D", "endpoint.description", "free text"},
    {"--upstream", "URL", "endpoint.target.url", "proxy to URL (may use the path's {params})", NULL,
     "endpoint.target.kind=upstream"},
    {"--static-status", "CODE", "endpoint.target.status", "answer with this fixed status", NULL,
     "endpoint.target.kind=static"},
    {"--content-type", "T", "endpoint.target.content_type", "content type of the fixed answer",
     NULL, "endpoint.target.kind=static"},
    {"--static-body", "TEXT", "endpoint.target.body", "body of the fixed answer", NULL,
     "endpoint.target.kind=static"},
    {"--active", "BOOL", "endpoint.active", "serve it (new endpoints start inactive)"},
    {"--timeout-ms", "N", "endpoint.timeout_ms", "upstream timeout (default 30000, max 240000)"},
    {"--cache-ttl", "SECONDS", "endpoint.cache_ttl_seconds",
     "cache GET answers this long (0 = off, max 3600)"},
    {NULL}};

static const ctl_flag_t endpoint_owner[] = {
    {"--collection", "C", "endpoint.collection_id", "collection (id or name) it belongs to"},
    {NULL}};

static const ctl_flag_t in_collection[] = {
    {"--collection", "C", "parent", "collection (id or name) to look in"}, {NULL}};

static const ctl_verb_t endpoint_verbs[] = {{"create",
                                             "--collection C --method M --path P [flags]",
                                             "create an endpoint (--upstream or --static-*)",
                                             "CreateEndpoint",
                                             D(create_endpoint_request),
                                             D(endpoint),
                                             NULL,
                                             {endpoint_owner, endpoint_fields}},
                                            {"get",
                                             "ID|NAME [--collection C]",
                                             "show an endpoint",
                                             "GetEndpoint",
                                             D(get_request),
                                             D(endpoint),
                                             "id",
                                             {in_collection}},
                                            {"list",
                                             "[--collection C] [--page-size N]",
                                             "list endpoints",
                                             "ListEndpoints",
                                             D(list_request),
                                             D(list_endpoints_response),
                                             NULL,
                                             {in_collection, page_size},
                                             CTL_SHOW_LIST},
                                            {"update",
                                             "ID|NAME [--collection C] FLAGS",
                                             "change the fields given as flags",
                                             "UpdateEndpoint",
                                             D(update_endpoint_request),
                                             D(endpoint),
                                             "id",
                                             {in_collection, endpoint_fields, expected_revision}},
                                            {"delete",
                                             "ID|NAME [--collection C] [flags]",
                                             "delete an endpoint",
                                             "DeleteEndpoint",
                                             D(delete_request),
                                             D(delete_response),
                                             "id",
                                             {in_collection, expected_revision},
                                             CTL_SHOW_DELETED},
                                            {NULL}};

static const ctl_column_t endpoint_columns[] = {{"ID", "id"},
                                                {"NAME", "name"},
                                                {"METHOD", "method"},
                                                {"PATH", "path"},
                                                {"TARGET", "target", ctl_cell_target},
                                                {"ACTIVE", "active"},
                                                {NULL}};

/* ---- client ---- */

static const ctl_flag_t client_fields[] = {
    {"--description", "D", "client.description", "free text"},
    {"--enabled", "BOOL", "client.enabled", "let its tokens in (default true)"},
    {NULL}};

static const ctl_flag_t client_rename[] = {{"--name", "NAME", "client.name", "new name"}, {NULL}};

static const ctl_verb_t client_verbs[] = {
    {"create",
     "NAME [flags]",
     "create a client",
     "CreateClient",
     D(create_client_request),
     D(client),
     "client.name",
     {client_fields}},
    {"get", "ID|NAME", "show a client", "GetClient", D(get_request), D(client), "id"},
    {"list",
     "[--page-size N]",
     "list clients",
     "ListClients",
     D(list_request),
     D(list_clients_response),
     NULL,
     {page_size},
     CTL_SHOW_LIST},
    {"update",
     "ID|NAME FLAGS",
     "change the fields given as flags",
     "UpdateClient",
     D(update_client_request),
     D(client),
     "id",
     {client_rename, client_fields, expected_revision}},
    {"delete",
     "ID|NAME [--cascade] [--expected-revision N]",
     "delete a client",
     "DeleteClient",
     D(delete_request),
     D(delete_response),
     "id",
     {cascade, expected_revision},
     CTL_SHOW_DELETED},
    {NULL}};

static const ctl_column_t client_columns[] = {
    {"ID", "id"}, {"NAME", "name"}, {"ENABLED", "enabled"}, {NULL}};

/* ---- profile ---- */

static const ctl_flag_t profile_fields[] = {
    {"--collections", "A,B", "profile.collection_ids", "collections it may call (ids or names)",
     ctl_set_list},
    {"--policy", "P", "profile.policy_id", "access policy (id or name; \"\" = no limits)"},
    {"--ip-allow", "CIDR,..", "profile.ip_allow", "allowed addresses and CIDRs (default any)",
     ctl_set_list},
    {"--description", "D", "profile.description", "free text"},
    {"--enabled", "BOOL", "profile.enabled", "let its tokens in (default true)"},
    {NULL}};

static const ctl_flag_t profile_owner[] = {
    {"--client", "C", "profile.client_id", "client (id or name) it belongs to"}, {NULL}};

static const ctl_flag_t profile_rename[] = {{"--name", "NAME", "profile.name", "new name"}, {NULL}};

static const ctl_flag_t in_client[] = {
    {"--client", "C", "parent", "client (id or name) to look in"}, {NULL}};

static const ctl_verb_t profile_verbs[] = {
    {"create",
     "NAME --client C [flags]",
     "create an access profile",
     "CreateProfile",
     D(create_profile_request),
     D(access_profile),
     "profile.name",
     {profile_owner, profile_fields}},
    {"get",
     "ID|NAME [--client C]",
     "show an access profile",
     "GetProfile",
     D(get_request),
     D(access_profile),
     "id",
     {in_client}},
    {"list",
     "[--client C] [--page-size N]",
     "list access profiles",
     "ListProfiles",
     D(list_request),
     D(list_profiles_response),
     NULL,
     {in_client, page_size},
     CTL_SHOW_LIST},
    {"update",
     "ID|NAME [--client C] FLAGS",
     "change the fields given as flags",
     "UpdateProfile",
     D(update_profile_request),
     D(access_profile),
     "id",
     {in_client, profile_rename, profile_fields, expected_revision}},
    {"delete",
     "ID|NAME [--client C] [flags]",
     "delete an access profile",
     "DeleteProfile",
     D(delete_request),
     D(delete_response),
     "id",
     {in_client, expected_revision},
     CTL_SHOW_DELETED},
    {NULL}};

static const ctl_column_t profile_columns[] = {{"ID", "id"},
                                               {"NAME", "name"},
                                               {"CLIENT", "client_id"},
                                               {"COLLECTIONS", "collection_ids"},
                                               {"POLICY", "policy_id"},
                                               {"ENABLED", "enabled"},
                                               {NULL}};

/* ---- policy ---- */

static const ctl_flag_t policy_fields[] = {
    {"--rate", "COUNT/PERIOD", "policy.rate_limit",
     "rate limit, e.g. 100/minute (second, minute, hour; none removes it)", ctl_set_rate},
    {"--quota", "COUNT/PERIOD", "policy.quota",
     "quota, e.g. 10000/month (day, week, month; none removes it)", ctl_set_rate},
    {"--description", "D", "policy.description", "free text"},
    {NULL}};

static const ctl_flag_t policy_rename[] = {{"--name", "NAME", "policy.name", "new name"}, {NULL}};

static const ctl_verb_t policy_verbs[] = {{"create",
                                           "NAME [--rate N/PERIOD] [--quota N/PERIOD]",
                                           "create an access policy",
                                           "CreatePolicy",
                                           D(create_policy_request),
                                           D(access_policy),
                                           "policy.name",
                                           {policy_fields}},
                                          {"get", "ID|NAME", "show an access policy", "GetPolicy",
                                           D(get_request), D(access_policy), "id"},
                                          {"list",
                                           "[--page-size N]",
                                           "list access policies",
                                           "ListPolicies",
                                           D(list_request),
                                           D(list_policies_response),
                                           NULL,
                                           {page_size},
                                           CTL_SHOW_LIST},
                                          {"update",
                                           "ID|NAME FLAGS",
                                           "change the fields given as flags",
                                           "UpdatePolicy",
                                           D(update_policy_request),
                                           D(access_policy),
                                           "id",
                                           {policy_rename, policy_fields, expected_revision}},
                                          {"delete",
                                           "ID|NAME [--cascade] [--expected-revision N]",
                                           "delete an access policy",
                                           "DeletePolicy",
                                           D(delete_request),
                                           D(delete_response),
                                           "id",
                                           {cascade, expected_revision},
                                           CTL_SHOW_DELETED},
                                          {NULL}};

static const ctl_column_t policy_columns[] = {{"ID", "id"},
                                              {"NAME", "name"},
                                              {"RATE", "rate_limit", ctl_cell_rate},
                                              {"QUOTA", "quota", ctl_cell_rate},
                                              {NULL}};

/* ---- token ---- */

static const ctl_flag_t token_issue[] = {
    {"--profile", "P", "profile", "access profile (id or name) the token is for"},
    {"--client", "C", "client", "client (id or name) owning the profile, for a profile name"},
    {"--name", "N", "name", "label to tell tokens apart"},
    {NULL}};

static const ctl_flag_t token_expiry[] = {
    {"--expires", "TIME", "expire_time", "expiry: RFC 3339 or unix seconds (default never)",
     ctl_set_time},
    {"--expires-in", "DURATION", "expire_time", "expiry from now: 30d, 12h, 90m, 3600s",
     ctl_set_from_now},
    {NULL}};

static const ctl_flag_t token_grace[] = {
    {"--grace", "DURATION", "grace_seconds",
     "keep the old token working this long, e.g. 1h (default: revoke now)", ctl_set_duration},
    {NULL}};

static const ctl_flag_t of_profile[] = {
    {"--profile", "P", "parent", "only the tokens of this profile (id or name)"}, {NULL}};

static const ctl_verb_t token_verbs[] = {
    {"issue",
     "--profile P [flags]",
     "issue a token; its secret is shown once",
     "IssueToken",
     D(issue_token_request),
     D(issue_token_response),
     NULL,
     {token_issue, token_expiry},
     CTL_SHOW_SECRET},
    {"list",
     "[--profile P] [--page-size N]",
     "list tokens (never their secrets)",
     "ListTokens",
     D(list_request),
     D(list_tokens_response),
     NULL,
     {of_profile, page_size},
     CTL_SHOW_LIST},
    {"get", "ID", "show a token", "GetToken", D(get_request), D(token), "id"},
    {"revoke",
     "ID [--expected-revision N]",
     "revoke a token now",
     "RevokeToken",
     D(revoke_token_request),
     D(token),
     "id",
     {expected_revision}},
    {"refresh",
     "ID [--grace DURATION] [flags]",
     "replace a token by a new one; its secret is shown once",
     "RefreshToken",
     D(refresh_token_request),
     D(issue_token_response),
     "id",
     {token_grace, token_expiry, expected_revision},
     CTL_SHOW_SECRET},
    {NULL}};

static const ctl_column_t token_columns[] = {{"ID", "id"},
                                             {"NAME", "name"},
                                             {"PREFIX", "display_prefix"},
                                             {"PROFILE", "profile_id"},
                                             {"EXPIRES", "expire_time"},
                                             {"STATE", NULL, ctl_cell_token_state},
                                             {NULL}};

/* ---- settings and revision ---- */

static const ctl_flag_t settings_fields[] = {
    {"--api-prefix", "X", "settings.api_prefix", "first path segment of every API URL"},
    {"--custom-domains", "A,B", "settings.custom_domains", "hostnames the data planes answer for",
     ctl_set_list},
    {NULL}};

static const ctl_verb_t settings_verbs[] = {
    {"get", "", "show the platform settings", "GetSettings", D(get_settings_request), D(settings)},
    {"set",
     "FLAGS",
     "change the settings given as flags",
     "UpdateSettings",
     D(update_settings_request),
     D(settings),
     NULL,
     {settings_fields, expected_revision}},
    {NULL}};

static const ctl_verb_t revision_verbs[] = {{NULL,
                                             "",
                                             "print the revision of the configuration",
                                             "GetRevision",
                                             D(get_revision_request),
                                             D(get_revision_response),
                                             NULL,
                                             {NULL},
                                             CTL_SHOW_REVISION},
                                            {NULL}};

static const ctl_verb_t nodes_verbs[] = {{NULL,
                                          "",
                                          "list the data-plane nodes and what they hold",
                                          "ListNodes",
                                          D(list_nodes_request),
                                          D(list_nodes_response),
                                          NULL,
                                          {NULL},
                                          CTL_SHOW_LIST},
                                         {NULL}};

static const ctl_column_t nodes_columns[] = {
    {"NODE", "node_id"},          {"CONNECTED", "connected"},
    {"REVISION", "revision"},     {"PENDING", "pending_revision"},
    {"NACK", "nack_revision"},    {"NACK ERROR", "nack_error"},
    {"ADDRESS", "address"},       {"LAST SEEN", "last_seen_time"},
    {"VERSION", "build_version"}, {NULL}};

/* ---- configuration as code and the change log ---- */

static const ctl_flag_t bundle_in[] = {
    {"-f", "FILE", NULL, "bundle file, YAML or JSON (- = stdin)", NULL, NULL, CTL_OPT_FILE},
    {NULL}};

static const ctl_flag_t bundle_out[] = {
    {"-f", "OUT", NULL, "write the bundle to OUT instead of stdout", NULL, NULL, CTL_OPT_FILE},
    {NULL}};

static const ctl_flag_t selector[] = {{"--selector", "K=V,..", "selector",
                                       "work on the resources with all these labels only",
                                       ctl_set_labels},
                                      {NULL}};

static const ctl_flag_t prune[] = {
    {"--prune", NULL, "prune", "delete what the selector covers and the bundle lacks"}, {NULL}};

static const ctl_flag_t apply_checks[] = {
    {"--dry-run", NULL, "dry_run", "print the plan and change nothing"},
    {"--expected-revision", "N", "expected_revision",
     "refuse unless the configuration is at revision N"},
    {NULL}};

static const ctl_verb_t apply_verbs[] = {
    {NULL,
     "-f FILE [--dry-run] [--prune] [--selector K=V,..] [--expected-revision N]",
     "make the platform match a bundle file in one transaction, and print what changed",
     "Apply",
     D(apply_request),
     D(apply_response),
     NULL,
     {bundle_in, apply_checks, prune, selector},
     CTL_SHOW_PLAN,
     ctl_run_apply},
    {NULL}};

static const ctl_verb_t diff_verbs[] = {
    {NULL,
     "-f FILE [--prune] [--selector K=V,..]",
     "print what apply would change; exit status 0 when nothing, 2 when something",
     "Apply",
     D(apply_request),
     D(apply_response),
     NULL,
     {bundle_in, prune, selector},
     CTL_SHOW_DIFF,
     ctl_run_diff},
    {NULL}};

static const ctl_verb_t export_verbs[] = {{NULL,
                                           "[--selector K=V,..] [-o yaml|json] [-f OUT]",
                                           "write the configuration as a bundle file (YAML "
                                           "unless -o json), ready for apply",
                                           "Export",
                                           D(export_request),
                                           D(bundle),
                                           NULL,
                                           {selector, bundle_out},
                                           CTL_SHOW_BUNDLE},
                                          {NULL}};

static const ctl_flag_t audit_flags[] = {
    {"--since", "REV", "since_revision", "only the changes after revision REV"},
    {"--limit", "N", "limit", "at most N revisions (default 100, max 1000)"},
    {NULL}};

static const ctl_verb_t audit_verbs[] = {{NULL,
                                          "[--since REV] [--limit N]",
                                          "list who changed what and when, a row per change",
                                          "ListChanges",
                                          D(list_changes_request),
                                          D(list_changes_response),
                                          NULL,
                                          {audit_flags},
                                          CTL_SHOW_CHANGES},
                                         {NULL}};

/* each from the change, or from its change set for the fields a change lacks */
static const ctl_column_t audit_columns[] = {{"REVISION", "revision"},
                                             {"TIME", "time"},
                                             {"ACTOR", "actor"},
                                             {"OP", "op"},
                                             {"KIND", "kind"},
                                             {"ID", "id"},
                                             {NULL}};

/* ---- usage and quotas ---- */

static const ctl_flag_t usage_flags[] = {
    {"--since", "T", "start_time",
     "from T: RFC 3339, unix seconds, or a duration ago (15m, 2h, 7d); default 24h before --until",
     ctl_set_time_or_ago},
    {"--until", "T", "end_time", "up to T, exclusive (same forms; default now)",
     ctl_set_time_or_ago},
    {"--client", "C", "client", "only the calls of this client (id or name)"},
    {"--collection", "C", "collection",
     "only the calls to this collection's endpoints (id or name)"},
    {"--top", "N", "top", "rows per top list (default 10, max 1000)"},
    {"--granularity", "G", "granularity",
     "minute or day buckets (default minute up to 48 hours, else day)"},
    {NULL}};

static const ctl_verb_t usage_verbs[] = {{NULL,
                                          "[--since T] [--until T] [--client C] [--collection C] "
                                          "[--top N] [--granularity minute|day]",
                                          "show successful calls, errors and policy violations, "
                                          "with the top clients and endpoints, for a time range",
                                          "GetUsage",
                                          D(get_usage_request),
                                          D(get_usage_response),
                                          NULL,
                                          {usage_flags},
                                          CTL_SHOW_USAGE},
                                         {NULL}};

static const ctl_flag_t quota_of_client[] = {
    {"--client", "C", "client", "only the quotas of this client (id or name)"}, {NULL}};

static const ctl_verb_t quota_verbs[] = {{"list",
                                          "[--client C]",
                                          "list the quotas of the current periods: limit, use, "
                                          "leases to nodes, what remains",
                                          "ListQuotas",
                                          D(list_quotas_request),
                                          D(list_quotas_response),
                                          NULL,
                                          {quota_of_client},
                                          CTL_SHOW_LIST},
                                         {NULL}};

static const ctl_column_t quota_columns[] = {{"PROFILE", "profile_name"},
                                             {"CLIENT", "client_name"},
                                             {"PERIOD", "period"},
                                             {"LIMIT", "limit"},
                                             {"USED", "used"},
                                             {"LEASED", "leased"},
                                             {"REMAINING", "remaining"},
                                             {NULL}};

const ctl_noun_t ctl_nouns[] = {
    {"collection", "versioned groups of endpoints served under one path", collection_verbs,
     collection_columns},
    {"endpoint", "routes of a collection and where they go", endpoint_verbs, endpoint_columns},
    {"client", "the parties that call the APIs", client_verbs, client_columns},
    {"profile", "what a client's tokens may call, from where, under which policy", profile_verbs,
     profile_columns},
    {"policy", "rate limits and quotas", policy_verbs, policy_columns},
    {"token", "API tokens of access profiles", token_verbs, token_columns},
    {"settings", "platform-wide settings", settings_verbs},
    {"revision", "the configuration's current revision", revision_verbs},
    {"nodes", "data-plane nodes: connected, revision held, last refusal", nodes_verbs,
     nodes_columns},
    {"apply", "make the configuration match a bundle file", apply_verbs},
    {"diff", "what apply would change", diff_verbs},
    {"export", "the configuration as a bundle file", export_verbs},
    {"audit", "the change log: who changed what, when", audit_verbs, audit_columns},
    {"usage", "calls by outcome, top clients and endpoints, for a time range", usage_verbs},
    {"quota", "quotas in their current period: used, leased, remaining", quota_verbs,
     quota_columns},
    {NULL}};
