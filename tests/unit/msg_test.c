/* Unit tests of common/msg.c, the descriptor-driven message helpers, run on
 * the real resource messages: text to fields for every type and its errors,
 * nested paths, oneof members, field copies for update masks, JSON. */
#include "ap_msg.h"
#include "apiplatform/v1/resources.pb-c.h"

#include <criterion/criterion.h>
#include <string.h>

typedef Apiplatform__V1__Collection collection_t;
typedef Apiplatform__V1__Endpoint endpoint_t;
typedef Apiplatform__V1__AccessProfile profile_t;
typedef Apiplatform__V1__AccessPolicy policy_t;

static char err[256];

/* void * so a test assigns it to the generated type without a cast */
static void *make(const ProtobufCMessageDescriptor *desc)
{
    return ap_msg_new(desc);
}

static int set(void *m, const char *path, const char *text)
{
    err[0] = '\0';
    return ap_msg_set_text(m, path, text, err, sizeof(err));
}

Test(msg, new_message_has_proto3_defaults)
{
    collection_t *c = make(&apiplatform__v1__collection__descriptor);
    cr_assert_str_eq(c->name, "");
    cr_assert_eq(c->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET__NOT_SET);
    cr_assert_eq(c->revision, 0);
    ap_msg_free(&c->base);
    ap_msg_free(NULL);
}

Test(msg, set_text_string_replaces)
{
    collection_t *c = make(&apiplatform__v1__collection__descriptor);
    cr_assert_eq(set(c, "name", "orders"), 0);
    cr_assert_eq(set(c, "name", "billing"), 0);
    cr_assert_str_eq(c->name, "billing");
    cr_assert_eq(set(c, "description", ""), 0);
    cr_assert_str_eq(c->description, "");
    ap_msg_free(&c->base);
}

Test(msg, set_text_integers)
{
    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    cr_assert_eq(set(e, "timeout_ms", "4294967295"), 0);
    cr_assert_eq(e->timeout_ms, 4294967295u);
    cr_assert_eq(set(e, "create_time", "-12"), 0);
    cr_assert_eq(e->create_time, -12);
    cr_assert_eq(set(e, "revision", "18446744073709551615"), 0);
    cr_assert_eq(e->revision, UINT64_MAX);

    cr_assert_eq(set(e, "timeout_ms", "4294967296"), -1);
    cr_assert_str_eq(err, "4294967296 is out of range for uint32");
    cr_assert_eq(set(e, "timeout_ms", "-1"), -1);
    cr_assert_str_eq(err, "\"-1\" is not an unsigned integer");
    cr_assert_eq(set(e, "timeout_ms", "12ms"), -1);
    cr_assert_str_eq(err, "\"12ms\" is not an unsigned integer");
    cr_assert_eq(set(e, "timeout_ms", ""), -1);
    cr_assert_eq(set(e, "timeout_ms", " 5"), -1);
    cr_assert_eq(set(e, "revision", "18446744073709551616"), -1);
    cr_assert_eq(set(e, "create_time", "9223372036854775808"), -1);
    cr_assert_str_eq(err, "9223372036854775808 is out of range for int64");
    cr_assert_eq(set(e, "create_time", "+5"), -1);
    cr_assert_eq(set(e, "create_time", "-"), -1);
    cr_assert_str_eq(err, "\"-\" is not an integer");
    /* failed sets leave the field alone */
    cr_assert_eq(e->timeout_ms, 4294967295u);
    cr_assert_eq(e->create_time, -12);
    ap_msg_free(&e->base);
}

Test(msg, set_text_bools)
{
    static const struct {
        const char *text;
        int value;
    } cases[] = {{"true", 1}, {"FALSE", 0}, {"yes", 1}, {"No", 0},
                 {"1", 1},    {"0", 0},     {"on", 1},  {"off", 0}};
    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(set(e, "active", cases[i].text), 0, "%s", cases[i].text);
        cr_assert_eq(e->active, cases[i].value, "%s", cases[i].text);
    }
    cr_assert_eq(set(e, "active", "maybe"), -1);
    cr_assert_str_eq(err, "\"maybe\" is not a boolean (true or false)");
    ap_msg_free(&e->base);
}

Test(msg, set_text_enums_by_full_or_short_name)
{
    policy_t *p = make(&apiplatform__v1__access_policy__descriptor);
    const char *names[] = {"minute", "MINUTE", "RATE_PERIOD_MINUTE", "rate_period_minute"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cr_assert_eq(set(p, "rate_limit.period", "hour"), 0);
        cr_assert_eq(set(p, "rate_limit.period", names[i]), 0, "%s", names[i]);
        cr_assert_eq(p->rate_limit->period, APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_MINUTE);
    }
    cr_assert_eq(set(p, "rate_limit.period", "fortnight"), -1);
    cr_assert_str_eq(err, "\"fortnight\" is not one of second minute hour");

    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    cr_assert_eq(set(e, "target.kind", "upstream"), 0);
    cr_assert_eq(e->target->kind, APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM);
    ap_msg_free(&e->base);
    ap_msg_free(&p->base);
}

Test(msg, set_text_bytes_raw)
{
    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    cr_assert_eq(set(e, "target.body", "{\"ok\":true}"), 0);
    cr_assert_eq(e->target->body.len, 11);
    cr_assert_eq(memcmp(e->target->body.data, "{\"ok\":true}", 11), 0);
    cr_assert_eq(set(e, "target.body", ""), 0);
    cr_assert_eq(e->target->body.len, 0);
    ap_msg_free(&e->base);
}

Test(msg, set_text_nested_creates_messages)
{
    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    cr_assert_null(e->target);
    cr_assert_eq(set(e, "target.url", "http://backend:8080/orders/{id}"), 0);
    cr_assert_not_null(e->target);
    cr_assert_str_eq(e->target->url, "http://backend:8080/orders/{id}");
    ap_msg_free(&e->base);

    policy_t *p = make(&apiplatform__v1__access_policy__descriptor);
    cr_assert_eq(set(p, "rate_limit.count", "100"), 0);
    cr_assert_eq(p->rate_limit->count, 100);
    cr_assert_null(p->quota);
    ap_msg_free(&p->base);
}

Test(msg, set_text_path_errors)
{
    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    cr_assert_eq(set(e, "nope", "x"), -1);
    cr_assert_str_eq(err, "no field \"nope\" in apiplatform.v1.Endpoint");
    cr_assert_eq(set(e, "name.first", "x"), -1);
    cr_assert_str_eq(err, "no field \"name.first\" in apiplatform.v1.Endpoint");
    cr_assert_eq(set(e, "target.nope", "x"), -1);
    cr_assert_eq(set(e, "target", "x"), -1);
    cr_assert_str_eq(err, "target is a message: set one of its fields");
    cr_assert_eq(set(e, "", "x"), -1);
    /* a failed nested set creates nothing */
    cr_assert_null(e->target);
    cr_assert_null(ap_msg_field(&apiplatform__v1__endpoint__descriptor, "target.url.x"));
    cr_assert_eq(ap_msg_field(&apiplatform__v1__endpoint__descriptor, "target.url")->id, 2);
    ap_msg_free(&e->base);
}

Test(msg, set_text_repeated_appends_and_clear_empties)
{
    profile_t *p = make(&apiplatform__v1__access_profile__descriptor);
    cr_assert_eq(set(p, "collection_ids", "a"), 0);
    cr_assert_eq(set(p, "collection_ids", "b"), 0);
    cr_assert_eq(p->n_collection_ids, 2);
    cr_assert_str_eq(p->collection_ids[1], "b");
    ap_msg_clear(&p->base, "collection_ids");
    cr_assert_eq(p->n_collection_ids, 0);
    cr_assert_null(p->collection_ids);
    cr_assert_eq(set(p, "collection_ids", "c"), 0);
    cr_assert_eq(p->n_collection_ids, 1);
    cr_assert_str_eq(p->collection_ids[0], "c");
    ap_msg_clear(&p->base, "description");
    ap_msg_clear(&p->base, "nope");
    ap_msg_free(&p->base);
}

Test(msg, oneof_member)
{
    collection_t *c = make(&apiplatform__v1__collection__descriptor);
    cr_assert_eq(ap_msg_has(&c->base, "active"), 0);
    cr_assert_eq(set(c, "active", "false"), 0);
    cr_assert_eq(c->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE);
    cr_assert_eq(c->active, 0);
    /* selected with the default value still counts as given */
    cr_assert_eq(ap_msg_has(&c->base, "active"), 1);
    cr_assert_eq(ap_msg_get_u64(&c->base, "active"), 0);
    cr_assert_eq(set(c, "active", "true"), 0);
    cr_assert_eq(ap_msg_get_u64(&c->base, "active"), 1);
    ap_msg_clear(&c->base, "active");
    cr_assert_eq(c->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET__NOT_SET);
    ap_msg_free(&c->base);
}

Test(msg, has)
{
    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    const char *paths[] = {"name", "timeout_ms", "active", "target", "target.url", "create_time"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        cr_assert_eq(ap_msg_has(&e->base, paths[i]), 0, "%s", paths[i]);
    set(e, "name", "x");
    set(e, "timeout_ms", "5");
    set(e, "active", "yes");
    set(e, "create_time", "-1");
    set(e, "target.kind", "static");
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        cr_assert_eq(ap_msg_has(&e->base, paths[i]), i != 4, "%s", paths[i]);
    cr_assert_eq(ap_msg_has(&e->base, "nope"), 0);
    ap_msg_free(&e->base);

    profile_t *p = make(&apiplatform__v1__access_profile__descriptor);
    cr_assert_eq(ap_msg_has(&p->base, "ip_allow"), 0);
    set(p, "ip_allow", "10.0.0.0/8");
    cr_assert_eq(ap_msg_has(&p->base, "ip_allow"), 1);
    ap_msg_free(&p->base);
}

Test(msg, copy_field_scalar_string_repeated)
{
    profile_t *src = make(&apiplatform__v1__access_profile__descriptor);
    profile_t *dst = make(&apiplatform__v1__access_profile__descriptor);
    set(src, "name", "gold");
    set(src, "auth_method", "api_token");
    set(src, "ip_allow", "10.0.0.0/8");
    set(src, "ip_allow", "::1");
    set(dst, "name", "silver");
    set(dst, "description", "kept");
    set(dst, "ip_allow", "192.168.0.0/16");

    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "name", err, sizeof(err)), 0);
    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "auth_method", err, sizeof(err)), 0);
    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "ip_allow", err, sizeof(err)), 0);
    cr_assert_str_eq(dst->name, "gold");
    cr_assert_str_eq(dst->description, "kept");
    cr_assert_eq(dst->auth_method, APIPLATFORM__V1__AUTH_METHOD__AUTH_METHOD_API_TOKEN);
    cr_assert_eq(dst->n_ip_allow, 2);
    cr_assert_str_eq(dst->ip_allow[0], "10.0.0.0/8");
    cr_assert_str_eq(dst->ip_allow[1], "::1");
    cr_assert_neq(dst->ip_allow[0], src->ip_allow[0]);

    /* an empty source list empties the destination */
    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "collection_ids", err, sizeof(err)), 0);
    set(dst, "collection_ids", "x");
    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "collection_ids", err, sizeof(err)), 0);
    cr_assert_eq(dst->n_collection_ids, 0);

    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "nope", err, sizeof(err)), -1);
    cr_assert_str_eq(err, "no field \"nope\" in apiplatform.v1.AccessProfile");
    ap_msg_free(&src->base);
    ap_msg_free(&dst->base);
}

Test(msg, copy_field_message_deep_and_nested)
{
    endpoint_t *src = make(&apiplatform__v1__endpoint__descriptor);
    endpoint_t *dst = make(&apiplatform__v1__endpoint__descriptor);
    set(src, "target.kind", "static");
    set(src, "target.status", "204");
    set(src, "target.body", "hi");
    set(dst, "target.url", "http://old");

    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "target", err, sizeof(err)), 0);
    cr_assert_neq(dst->target, src->target);
    cr_assert_eq(dst->target->status, 204);
    cr_assert_str_eq(dst->target->url, "");
    cr_assert_eq(dst->target->body.len, 2);

    /* a nested path creates the destination's parent, touches nothing else */
    endpoint_t *fresh = make(&apiplatform__v1__endpoint__descriptor);
    cr_assert_eq(ap_msg_copy_field(&fresh->base, &src->base, "target.status", err, sizeof(err)), 0);
    cr_assert_eq(fresh->target->status, 204);
    cr_assert_eq(fresh->target->kind, APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UNSPECIFIED);

    /* copying from an absent message clears */
    endpoint_t *empty = make(&apiplatform__v1__endpoint__descriptor);
    cr_assert_eq(ap_msg_copy_field(&dst->base, &empty->base, "target.status", err, sizeof(err)), 0);
    cr_assert_eq(dst->target->status, 0);
    cr_assert_eq(ap_msg_copy_field(&dst->base, &empty->base, "target", err, sizeof(err)), 0);
    cr_assert_null(dst->target);

    policy_t *p = make(&apiplatform__v1__access_policy__descriptor);
    cr_assert_eq(ap_msg_copy_field(&p->base, &src->base, "target", err, sizeof(err)), -1);
    cr_assert_str_eq(err, "cannot copy target from apiplatform.v1.Endpoint to "
                          "apiplatform.v1.AccessPolicy");
    ap_msg_free(&p->base);
    ap_msg_free(&src->base);
    ap_msg_free(&dst->base);
    ap_msg_free(&fresh->base);
    ap_msg_free(&empty->base);
}

Test(msg, copy_field_oneof_carries_case)
{
    collection_t *src = make(&apiplatform__v1__collection__descriptor);
    collection_t *dst = make(&apiplatform__v1__collection__descriptor);
    set(src, "active", "false");
    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "active", err, sizeof(err)), 0);
    cr_assert_eq(dst->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE);
    cr_assert_eq(dst->active, 0);

    /* an unselected member unselects */
    ap_msg_clear(&src->base, "active");
    cr_assert_eq(ap_msg_copy_field(&dst->base, &src->base, "active", err, sizeof(err)), 0);
    cr_assert_eq(dst->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET__NOT_SET);
    ap_msg_free(&src->base);
    ap_msg_free(&dst->base);
}

Test(msg, accessors)
{
    profile_t *p = make(&apiplatform__v1__access_profile__descriptor);
    ap_msg_set_str(&p->base, "name", "gold");
    ap_msg_set_str(&p->base, "name", "platinum");
    cr_assert_str_eq(ap_msg_get_str(&p->base, "name"), "platinum");
    cr_assert_str_eq(ap_msg_get_str(&p->base, "description"), "");
    cr_assert_str_eq(ap_msg_get_str(&p->base, "nope"), "");
    cr_assert_str_eq(ap_msg_get_str(&p->base, "revision"), "");

    ap_msg_set_u64(&p->base, "revision", 42);
    ap_msg_set_u64(&p->base, "create_time", 1700000000);
    ap_msg_set_u64(&p->base, "enabled", 1);
    ap_msg_set_u64(&p->base, "name", 7); /* not an integer: ignored */
    cr_assert_eq(ap_msg_get_u64(&p->base, "revision"), 42);
    cr_assert_eq(p->create_time, 1700000000);
    cr_assert_eq(p->enabled_set_case, APIPLATFORM__V1__ACCESS_PROFILE__ENABLED_SET_ENABLED);
    cr_assert_eq(ap_msg_get_u64(&p->base, "name"), 0);
    cr_assert_eq(ap_msg_get_u64(&p->base, "nope"), 0);

    set(p, "collection_ids", "a");
    set(p, "collection_ids", "b");
    cr_assert_eq(ap_msg_count(&p->base, "collection_ids"), 2);
    cr_assert_eq(ap_msg_count(&p->base, "name"), 0);
    ap_msg_set_str_at(&p->base, "collection_ids", 1, "col-2");
    ap_msg_set_str_at(&p->base, "collection_ids", 2, "ignored");
    cr_assert_str_eq(ap_msg_get_str_at(&p->base, "collection_ids", 0), "a");
    cr_assert_str_eq(ap_msg_get_str_at(&p->base, "collection_ids", 1), "col-2");
    cr_assert_str_eq(ap_msg_get_str_at(&p->base, "collection_ids", 2), "");
    ap_msg_free(&p->base);
}

Test(msg, to_json_includes_defaults_omits_absent)
{
    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    set(e, "name", "get order");
    set(e, "create_time", "-5");
    set(e, "revision", "9007199254740993");
    json_t *j = ap_msg_to_json(&e->base);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "get order");
    cr_assert_str_eq(json_string_value(json_object_get(j, "description")), "");
    cr_assert(json_is_false(json_object_get(j, "active")));
    cr_assert_eq(json_integer_value(json_object_get(j, "timeout_ms")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "create_time")), -5);
    cr_assert_eq(json_integer_value(json_object_get(j, "revision")), 9007199254740993LL);
    cr_assert_null(json_object_get(j, "target"));
    json_decref(j);

    set(e, "target.kind", "static");
    set(e, "target.body", "hello");
    j = ap_msg_to_json(&e->base);
    json_t *t = json_object_get(j, "target");
    cr_assert_str_eq(json_string_value(json_object_get(t, "kind")), "TARGET_KIND_STATIC");
    cr_assert_str_eq(json_string_value(json_object_get(t, "body")), "aGVsbG8=");
    cr_assert_str_eq(json_string_value(json_object_get(t, "url")), "");
    json_decref(j);
    ap_msg_free(&e->base);
}

Test(msg, to_json_repeated_and_oneof)
{
    profile_t *p = make(&apiplatform__v1__access_profile__descriptor);
    json_t *j = ap_msg_to_json(&p->base);
    cr_assert(json_is_array(json_object_get(j, "ip_allow")));
    cr_assert_eq(json_array_size(json_object_get(j, "ip_allow")), 0);
    cr_assert_null(json_object_get(j, "enabled"));
    json_decref(j);

    set(p, "ip_allow", "::1");
    set(p, "ip_allow", "10.0.0.0/8");
    set(p, "enabled", "false");
    j = ap_msg_to_json(&p->base);
    char *s = json_dumps(json_object_get(j, "ip_allow"), JSON_COMPACT);
    cr_assert_str_eq(s, "[\"::1\",\"10.0.0.0/8\"]");
    cr_assert(json_is_false(json_object_get(j, "enabled")));
    free(s);
    json_decref(j);
    ap_msg_free(&p->base);
}

Test(msg, to_json_base64_padding)
{
    static const char *cases[][2] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Apiplatform__V1__Target *t = make(&apiplatform__v1__target__descriptor);
        set(t, "body", cases[i][0]);
        json_t *j = ap_msg_to_json(&t->base);
        cr_assert_str_eq(json_string_value(json_object_get(j, "body")), cases[i][1]);
        json_decref(j);
        ap_msg_free(&t->base);
    }
}

Test(msg, dup_is_deep_and_equal)
{
    endpoint_t *e = make(&apiplatform__v1__endpoint__descriptor);
    set(e, "name", "x");
    set(e, "target.url", "http://a/{id}");
    set(e, "active", "true");
    endpoint_t *d = (endpoint_t *)ap_msg_dup(&e->base);
    cr_assert_neq(d, e);
    cr_assert_neq(d->target, e->target);
    json_t *a = ap_msg_to_json(&e->base), *b = ap_msg_to_json(&d->base);
    cr_assert(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    ap_msg_free(&e->base);
    cr_assert_str_eq(d->target->url, "http://a/{id}");
    ap_msg_free(&d->base);

    /* a oneof member set to its default survives the round trip */
    collection_t *c = make(&apiplatform__v1__collection__descriptor);
    set(c, "active", "false");
    collection_t *cd = (collection_t *)ap_msg_dup(&c->base);
    cr_assert_eq(cd->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE);
    ap_msg_free(&c->base);
    ap_msg_free(&cd->base);
}

Test(msg, enum_short)
{
    char buf[32];
    cr_assert_str_eq(ap_msg_enum_short(&apiplatform__v1__rate_period__descriptor,
                                       APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_MINUTE, buf,
                                       sizeof(buf)),
                     "minute");
    cr_assert_str_eq(ap_msg_enum_short(&apiplatform__v1__target_kind__descriptor,
                                       APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM, buf,
                                       sizeof(buf)),
                     "upstream");
    cr_assert_str_eq(
        ap_msg_enum_short(&apiplatform__v1__rate_period__descriptor, 99, buf, sizeof(buf)), "99");
}
