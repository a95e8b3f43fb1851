/* Generic protobuf-c message access for proto3 messages: every function
 * walks the message descriptor (field offsets, quantifier offsets for
 * repeated counts and oneof cases) instead of generated accessors, so one
 * piece of code serves every resource kind. Memory is plain malloc, the
 * allocator protobuf_c_message_free_unpacked assumes when given NULL. */
#include "ap_msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The in-struct size of one value of each type (the element size of a
 * repeated field's array) and the name used in error messages. */
static const struct {
    size_t size;
    const char *name;
} types[] = {
    [PROTOBUF_C_TYPE_INT32] = {sizeof(int32_t), "int32"},
    [PROTOBUF_C_TYPE_SINT32] = {sizeof(int32_t), "sint32"},
    [PROTOBUF_C_TYPE_SFIXED32] = {sizeof(int32_t), "sfixed32"},
    [PROTOBUF_C_TYPE_INT64] = {sizeof(int64_t), "int64"},
    [PROTOBUF_C_TYPE_SINT64] = {sizeof(int64_t), "sint64"},
    [PROTOBUF_C_TYPE_SFIXED64] = {sizeof(int64_t), "sfixed64"},
    [PROTOBUF_C_TYPE_UINT32] = {sizeof(uint32_t), "uint32"},
    [PROTOBUF_C_TYPE_FIXED32] = {sizeof(uint32_t), "fixed32"},
    [PROTOBUF_C_TYPE_UINT64] = {sizeof(uint64_t), "uint64"},
    [PROTOBUF_C_TYPE_FIXED64] = {sizeof(uint64_t), "fixed64"},
    [PROTOBUF_C_TYPE_FLOAT] = {sizeof(float), "float"},
    [PROTOBUF_C_TYPE_DOUBLE] = {sizeof(double), "double"},
    [PROTOBUF_C_TYPE_BOOL] = {sizeof(protobuf_c_boolean), "bool"},
    [PROTOBUF_C_TYPE_ENUM] = {sizeof(int), "enum"},
    [PROTOBUF_C_TYPE_STRING] = {sizeof(char *), "string"},
    [PROTOBUF_C_TYPE_BYTES] = {sizeof(ProtobufCBinaryData), "bytes"},
    [PROTOBUF_C_TYPE_MESSAGE] = {sizeof(ProtobufCMessage *), "message"},
};

/* Words a bool accepts, any case. */
static const struct {
    const char *word;
    protobuf_c_boolean value;
} bool_words[] = {{"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0},
                  {"1", 1},    {"0", 0},     {"on", 1},  {"off", 0}};

/* One parsed value, laid out as the message stores it. */
typedef union {
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    float f;
    double d;
    protobuf_c_boolean b;
    int e;
    char *s;
    ProtobufCBinaryData bytes;
} value_t;

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Out of memory is not recoverable for the callers of this file. */
static void *must(void *p)
{
    if (p == NULL) {
        fputs("fatal: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void *member(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (char *)m + f->offset;
}

/* Repeated fields: element count at quantifier_offset, array at offset. */
static size_t *count_of(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (size_t *)((char *)m + f->quantifier_offset);
}

static char *elem(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i)
{
    return *(char **)member(m, f) + i * types[f->type].size;
}

/* Oneof members: the case (the selected member's field id) lives at
 * quantifier_offset and all members share the union at offset. */
static uint32_t *case_of(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (uint32_t *)((char *)m + f->quantifier_offset);
}

static int selected(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || *case_of(m, f) == f->id;
}

static const ProtobufCFieldDescriptor *field_n(const ProtobufCMessageDescriptor *desc,
                                               const char *name, size_t len)
{
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (strncmp(desc->fields[i].name, name, len) == 0 && desc->fields[i].name[len] == '\0')
            return &desc->fields[i];
    return NULL;
}

static const ProtobufCFieldDescriptor *named(const ProtobufCMessage *m, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
}

/* Frees what one value owns (never the shared empty string or a default). */
static void value_free(const ProtobufCFieldDescriptor *f, void *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (*(char **)v != protobuf_c_empty_string && *(char **)v != f->default_value)
            free(*(char **)v);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        free(((ProtobufCBinaryData *)v)->data);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        ap_msg_free(*(ProtobufCMessage **)v);
        break;
    default:
        break;
    }
}

static void value_copy(const ProtobufCFieldDescriptor *f, void *dst, const void *src)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        *(char **)dst = must(strdup(*(char *const *)src));
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *s = src;
        ProtobufCBinaryData *d = dst;
        d->len = s->len;
        d->data = s->len ? memcpy(must(malloc(s->len)), s->data, s->len) : NULL;
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *s = *(ProtobufCMessage *const *)src;
        *(ProtobufCMessage **)dst = s ? ap_msg_dup(s) : NULL;
        break;
    }
    default:
        memcpy(dst, src, types[f->type].size);
    }
}

/* Back to the proto3 default: empty repeated, "" string, NULL message, zero;
 * a oneof member is unselected (and left alone when another is selected). */
static void field_reset(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        for (size_t i = 0; i < *count_of(m, f); i++)
            value_free(f, elem(m, f, i));
        free(*(void **)member(m, f));
        *(void **)member(m, f) = NULL;
        *count_of(m, f) = 0;
        return;
    }
    if (!selected(m, f)) return;
    value_free(f, member(m, f));
    memset(member(m, f), 0, types[f->type].size);
    if (f->type == PROTOBUF_C_TYPE_STRING) *(const char **)member(m, f) = protobuf_c_empty_string;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) *case_of(m, f) = 0;
}

/* The storage of a singular field, emptied for a new value; for a oneof
 * member, whichever member was selected is released and this one selected. */
static void *take_slot(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        const ProtobufCFieldDescriptor *cur =
            protobuf_c_message_descriptor_get_field(m->descriptor, *case_of(m, f));
        if (cur != NULL) field_reset(m, cur);
        *case_of(m, f) = f->id;
    } else {
        field_reset(m, f);
    }
    return member(m, f);
}

static void *append_slot(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    size_t n = *count_of(m, f), size = types[f->type].size;
    char **arr = member(m, f);
    *arr = must(realloc(*arr, (n + 1) * size));
    *count_of(m, f) = n + 1;
    return memset(*arr + n * size, 0, size);
}

/* The message holding the last segment of a valid `path`. Absent messages on
 * the way are created with `create`, else NULL is returned. */
static ProtobufCMessage *owner_of(ProtobufCMessage *m, const char *path, int create)
{
    const char *dot;
    while ((dot = strchr(path, '.')) != NULL) {
        const ProtobufCFieldDescriptor *f = field_n(m->descriptor, path, dot - path);
        ProtobufCMessage **sub = member(m, f);
        if (!selected(m, f) || *sub == NULL) {
            if (!create) return NULL;
            sub = take_slot(m, f);
            *sub = ap_msg_new(f->descriptor);
        }
        m = *sub;
        path = dot + 1;
    }
    return m;
}

ProtobufCMessage *ap_msg_new(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = must(malloc(desc->sizeof_message));
    protobuf_c_message_init(desc, m);
    return m;
}

ProtobufCMessage *ap_msg_dup(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = must(malloc(len + 1)); /* + 1: an empty message packs to nothing */
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    return must(copy);
}

void ap_msg_free(ProtobufCMessage *m)
{
    if (m != NULL) protobuf_c_message_free_unpacked(m, NULL);
}

const ProtobufCFieldDescriptor *ap_msg_field(const ProtobufCMessageDescriptor *desc,
                                             const char *path)
{
    for (;;) {
        const char *dot = strchr(path, '.');
        const ProtobufCFieldDescriptor *f =
            field_n(desc, path, dot ? (size_t)(dot - path) : strlen(path));
        if (f == NULL || dot == NULL) return f;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
            return NULL;
        desc = f->descriptor;
        path = dot + 1;
    }
}

static int parse_signed(const char *text, int64_t min, int64_t max, int64_t *out, char *err,
                        size_t errlen, const char *type)
{
    char *end;
    errno = 0;
    /* strtoll skips leading blanks and takes "+"; neither is a number here */
    long long v = strtoll(text, &end, 10);
    if (!(*text == '-' || (*text >= '0' && *text <= '9')) || *end != '\0')
        return fail(err, errlen, "\"%s\" is not an integer", text);
    if (errno == ERANGE || v < min || v > max)
        return fail(err, errlen, "%s is out of range for %s", text, type);
    *out = v;
    return 0;
}

static int parse_unsigned(const char *text, uint64_t max, uint64_t *out, char *err, size_t errlen,
                          const char *type)
{
    char *end;
    errno = 0;
    /* strtoull takes "-1" as ULLONG_MAX and skips blanks: demand a digit */
    unsigned long long v = strtoull(text, &end, 10);
    if (*text < '0' || *text > '9' || *end != '\0')
        return fail(err, errlen, "\"%s\" is not an unsigned integer", text);
    if (errno == ERANGE || v > max)
        return fail(err, errlen, "%s is out of range for %s", text, type);
    *out = v;
    return 0;
}

/* The length of the prefix all of an enum's value names share, up to and
 * including its last '_' ("RATE_PERIOD_"). */
static size_t enum_prefix_len(const ProtobufCEnumDescriptor *e)
{
    const char *first = e->values[0].name;
    size_t len = strlen(first);
    for (unsigned i = 1; i < e->n_values; i++) {
        size_t j = 0;
        while (j < len && first[j] == e->values[i].name[j])
            j++;
        len = j;
    }
    while (len > 0 && first[len - 1] != '_')
        len--;
    return len;
}

static int parse_enum(const ProtobufCEnumDescriptor *e, const char *text, int *out, char *err,
                      size_t errlen)
{
    size_t prefix = enum_prefix_len(e), used;
    for (unsigned i = 0; i < e->n_values; i++) {
        if (strcasecmp(e->values[i].name, text) == 0 ||
            strcasecmp(e->values[i].name + prefix, text) == 0) {
            *out = e->values[i].value;
            return 0;
        }
    }
    used = snprintf(err, errlen, "\"%s\" is not one of", text);
    /* the zero value means "not set" in proto3: not worth suggesting */
    for (unsigned i = 0; i < e->n_values && used < errlen; i++) {
        char buf[64];
        if (e->values[i].value != 0)
            used += snprintf(err + used, errlen - used, " %s",
                             ap_msg_enum_short(e, e->values[i].value, buf, sizeof(buf)));
    }
    return -1;
}

static int parse_value(const ProtobufCFieldDescriptor *f, const char *text, value_t *v, char *err,
                       size_t errlen)
{
    const char *type = types[f->type].name;
    char *end;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (parse_signed(text, INT32_MIN, INT32_MAX, &v->i64, err, errlen, type) != 0) return -1;
        v->i32 = (int32_t)v->i64;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return parse_signed(text, INT64_MIN, INT64_MAX, &v->i64, err, errlen, type);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (parse_unsigned(text, UINT32_MAX, &v->u64, err, errlen, type) != 0) return -1;
        v->u32 = (uint32_t)v->u64;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return parse_unsigned(text, UINT64_MAX, &v->u64, err, errlen, type);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        errno = 0;
        v->d = strtod(text, &end);
        if (*text == '\0' || *end != '\0' || errno == ERANGE)
            return fail(err, errlen, "\"%s\" is not a number", text);
        if (f->type == PROTOBUF_C_TYPE_FLOAT) v->f = (float)v->d;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        for (size_t i = 0; i < sizeof(bool_words) / sizeof(bool_words[0]); i++) {
            if (strcasecmp(bool_words[i].word, text) == 0) {
                v->b = bool_words[i].value;
                return 0;
            }
        }
        return fail(err, errlen, "\"%s\" is not a boolean (true or false)", text);
    case PROTOBUF_C_TYPE_ENUM:
        return parse_enum(f->descriptor, text, &v->e, err, errlen);
    case PROTOBUF_C_TYPE_STRING:
        v->s = must(strdup(text));
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        v->bytes.len = strlen(text);
        v->bytes.data = v->bytes.len ? (uint8_t *)must(strdup(text)) : NULL;
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    return fail(err, errlen, "%s is a message: set one of its fields", f->name);
}

int ap_msg_set_text(ProtobufCMessage *m, const char *path, const char *text, char *err,
                    size_t errlen)
{
    const ProtobufCFieldDescriptor *f = ap_msg_field(m->descriptor, path);
    value_t v;
    if (f == NULL) return fail(err, errlen, "no field \"%s\" in %s", path, m->descriptor->name);
    if (parse_value(f, text, &v, err, errlen) != 0) return -1;
    m = owner_of(m, path, 1);
    memcpy(f->label == PROTOBUF_C_LABEL_REPEATED ? append_slot(m, f) : take_slot(m, f), &v,
           types[f->type].size);
    return 0;
}

void ap_msg_clear(ProtobufCMessage *m, const char *path)
{
    const ProtobufCFieldDescriptor *f = ap_msg_field(m->descriptor, path);
    if (f != NULL && (m = owner_of(m, path, 0)) != NULL) field_reset(m, f);
}

int ap_msg_copy_field(ProtobufCMessage *dst, const ProtobufCMessage *src, const char *path,
                      char *err, size_t errlen)
{
    const ProtobufCFieldDescriptor *f = ap_msg_field(src->descriptor, path);
    if (dst->descriptor != src->descriptor)
        return fail(err, errlen, "cannot copy %s from %s to %s", path, src->descriptor->name,
                    dst->descriptor->name);
    if (f == NULL) return fail(err, errlen, "no field \"%s\" in %s", path, src->descriptor->name);

    /* an absent parent or unselected oneof member copies as the default */
    const ProtobufCMessage *from = owner_of((ProtobufCMessage *)src, path, 0);
    int present = from != NULL && selected(from, f);
    ProtobufCMessage *to = owner_of(dst, path, present);
    if (to == NULL) return 0;
    if (!present) {
        field_reset(to, f);
    } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *count_of(from, f);
        field_reset(to, f);
        *(void **)member(to, f) = n ? must(malloc(n * types[f->type].size)) : NULL;
        for (size_t i = 0; i < n; i++)
            value_copy(f, elem(to, f, i), elem(from, f, i));
        *count_of(to, f) = n;
    } else {
        value_copy(f, take_slot(to, f), member(from, f));
    }
    return 0;
}

int ap_msg_has(const ProtobufCMessage *m, const char *path)
{
    static const char zero[sizeof(value_t)];
    const ProtobufCFieldDescriptor *f = ap_msg_field(m->descriptor, path);
    if (f == NULL || (m = owner_of((ProtobufCMessage *)m, path, 0)) == NULL || !selected(m, f))
        return 0;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) return *count_of(m, f) > 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return 1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return *(char **)member(m, f) != NULL && **(char **)member(m, f) != '\0';
    case PROTOBUF_C_TYPE_BYTES:
        return ((ProtobufCBinaryData *)member(m, f))->len > 0;
    default:
        return memcmp(member(m, f), zero, types[f->type].size) != 0;
    }
}

/* The accessors below act only on a field of the kind they handle, so
 * generic code may call them on any message ("revision" on every kind). */

const char *ap_msg_get_str(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = named(m, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED ||
        !selected(m, f) || *(char **)member(m, f) == NULL)
        return "";
    return *(char **)member(m, f);
}

void ap_msg_set_str(ProtobufCMessage *m, const char *name, const char *value)
{
    const ProtobufCFieldDescriptor *f = named(m, name);
    if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
        char *copy = must(strdup(value));
        *(char **)take_slot(m, f) = copy;
    }
}

/* Integer-like fields (ints, enums, bools); 0 for any other type. */
static uint64_t read_u64(const ProtobufCFieldDescriptor *f, const void *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return (uint64_t)(int64_t) * (const int32_t *)v;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return *(const uint32_t *)v;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)v;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)v != 0;
    case PROTOBUF_C_TYPE_ENUM:
        return (uint64_t)(int64_t) * (const int *)v;
    default:
        return 0;
    }
}

uint64_t ap_msg_get_u64(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = named(m, name);
    if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED || !selected(m, f)) return 0;
    return read_u64(f, member(m, f));
}

void ap_msg_set_u64(ProtobufCMessage *m, const char *name, uint64_t v)
{
    const ProtobufCFieldDescriptor *f = named(m, name);
    if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED) return;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)take_slot(m, f) = (uint32_t)v;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)take_slot(m, f) = v;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)take_slot(m, f) = v != 0;
        break;
    case PROTOBUF_C_TYPE_ENUM:
        *(int *)take_slot(m, f) = (int)v;
        break;
    default:
        break;
    }
}

size_t ap_msg_count(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = named(m, name);
    return f != NULL && f->label == PROTOBUF_C_LABEL_REPEATED ? *count_of(m, f) : 0;
}

static const ProtobufCFieldDescriptor *str_list(const ProtobufCMessage *m, const char *name,
                                                size_t i)
{
    const ProtobufCFieldDescriptor *f = named(m, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label != PROTOBUF_C_LABEL_REPEATED ||
        i >= *count_of(m, f))
        return NULL;
    return f;
}

const char *ap_msg_get_str_at(const ProtobufCMessage *m, const char *name, size_t i)
{
    const ProtobufCFieldDescriptor *f = str_list(m, name, i);
    return f != NULL ? *(char **)elem(m, f, i) : "";
}

void ap_msg_set_str_at(ProtobufCMessage *m, const char *name, size_t i, const char *value)
{
    const ProtobufCFieldDescriptor *f = str_list(m, name, i);
    if (f != NULL) {
        char *copy = must(strdup(value));
        value_free(f, elem(m, f, i));
        *(char **)elem(m, f, i) = copy;
    }
}

static json_t *json_base64(const ProtobufCBinaryData *b)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = must(malloc((b->len + 2) / 3 * 4 + 1)), *p = out;
    for (size_t i = 0; i < b->len; i += 3) {
        uint32_t n = (uint32_t)b->data[i] << 16;
        if (i + 1 < b->len) n |= (uint32_t)b->data[i + 1] << 8;
        if (i + 2 < b->len) n |= b->data[i + 2];
        *p++ = alphabet[n >> 18 & 63];
        *p++ = alphabet[n >> 12 & 63];
        *p++ = i + 1 < b->len ? alphabet[n >> 6 & 63] : '=';
        *p++ = i + 2 < b->len ? alphabet[n & 63] : '=';
    }
    *p = '\0';
    json_t *j = json_string(out);
    free(out);
    return j;
}

/* jansson refuses invalid UTF-8; rather than lose the field, such strings
 * are shown with their non-ASCII bytes as '?'. */
static json_t *json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL) {
        char *ascii = must(strdup(s));
        for (char *p = ascii; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        j = json_string(ascii);
        free(ascii);
    }
    return j;
}

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)v);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)v);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)v);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)v);
        return ev != NULL ? json_string(ev->name) : json_integer(*(const int *)v);
    }
    case PROTOBUF_C_TYPE_STRING:
        return json_text(*(char *const *)v ? *(char *const *)v : "");
    case PROTOBUF_C_TYPE_BYTES:
        return json_base64(v);
    case PROTOBUF_C_TYPE_MESSAGE:
        return ap_msg_to_json(*(ProtobufCMessage *const *)v);
    default:
        /* 64-bit values above 2^63 would wrap; none of ours get there */
        return json_integer((json_int_t)read_u64(f, v));
    }
}

json_t *ap_msg_to_json(const ProtobufCMessage *m)
{
    json_t *obj = json_object();
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        json_t *v;
        if (!selected(m, f)) continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            v = json_array();
            for (size_t j = 0; j < *count_of(m, f); j++)
                json_array_append_new(v, value_json(f, elem(m, f, j)));
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(void **)member(m, f) == NULL) {
            continue;
        } else {
            v = value_json(f, member(m, f));
        }
        json_object_set_new(obj, f->name, v);
    }
    return obj;
}

const char *ap_msg_enum_short(const ProtobufCEnumDescriptor *e, int value, char *buf, size_t buflen)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(e, value);
    if (ev == NULL) {
        snprintf(buf, buflen, "%d", value);
        return buf;
    }
    snprintf(buf, buflen, "%s", ev->name + enum_prefix_len(e));
    for (char *p = buf; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p += 'a' - 'A';
    return buf;
}
