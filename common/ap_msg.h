/* Descriptor-driven helpers over protobuf-c messages, shared by the control
 * plane (generic resource layer, update masks) and apictl (flags to fields,
 * JSON output). Field paths are proto field names, dotted for nested
 * messages ("target.url"). Messages are always heap-allocated with malloc so
 * protobuf_c_message_free_unpacked frees them whole. */
#ifndef AP_MSG_H
#define AP_MSG_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* A new, initialised, empty message of the given type (malloc'd). */
ProtobufCMessage *ap_msg_new(const ProtobufCMessageDescriptor *desc);
/* Deep copy (pack + unpack). */
ProtobufCMessage *ap_msg_dup(const ProtobufCMessage *m);
/* Frees a message made by ap_msg_new/ap_msg_dup/unpack; NULL is fine. */
void ap_msg_free(ProtobufCMessage *m);

/* The field at a dotted path, or NULL. */
const ProtobufCFieldDescriptor *ap_msg_field(const ProtobufCMessageDescriptor *desc,
                                             const char *path);
/* Sets the field at `path` from text: numbers, bools (true/false/yes/no/1/0),
 * enums (full name or short, any case: "minute" for RATE_PERIOD_MINUTE),
 * strings, bytes (raw). Repeated fields append; nested messages are created.
 * Returns 0, or -1 with a reason in err. */
int ap_msg_set_text(ProtobufCMessage *m, const char *path, const char *text, char *err,
                    size_t errlen);
/* Resets the field at `path` to its proto3 default (empty repeated, "",
 * NULL message, zero, unselected oneof), so a later set of a repeated field
 * replaces instead of appending. */
void ap_msg_clear(ProtobufCMessage *m, const char *path);
/* Copies the field at `path` from src to dst (same type), deep; for a oneof
 * member also its case. Returns 0, or -1 with a reason in err. */
int ap_msg_copy_field(ProtobufCMessage *dst, const ProtobufCMessage *src, const char *path,
                      char *err, size_t errlen);
/* Whether a field at `path` is set: non-default scalar, non-empty string or
 * repeated, non-NULL message, or selected oneof member. */
int ap_msg_has(const ProtobufCMessage *m, const char *path);

/* Plain accessors by top-level field name; getters return "" / 0 when the
 * field is absent or empty. The string setter copies the value. */
const char *ap_msg_get_str(const ProtobufCMessage *m, const char *name);
void ap_msg_set_str(ProtobufCMessage *m, const char *name, const char *value);
uint64_t ap_msg_get_u64(const ProtobufCMessage *m, const char *name);
void ap_msg_set_u64(ProtobufCMessage *m, const char *name, uint64_t v);
/* The n-th string of a repeated string field, its count, and replacing it. */
size_t ap_msg_count(const ProtobufCMessage *m, const char *name);
const char *ap_msg_get_str_at(const ProtobufCMessage *m, const char *name, size_t i);
void ap_msg_set_str_at(ProtobufCMessage *m, const char *name, size_t i, const char *value);

/* The message as a JSON object (proto3 JSON mapping, field names as in the
 * .proto; enums by full name; bytes as base64; 64-bit integers as numbers;
 * default values included so pipelines see every field). */
json_t *ap_msg_to_json(const ProtobufCMessage *m);

/* Short enum name: "RATE_PERIOD_MINUTE" -> "minute" (lowercase, the enum's
 * common prefix removed). Returns a static or descriptor-owned string. */
const char *ap_msg_enum_short(const ProtobufCEnumDescriptor *e, int value, char *buf,
                              size_t buflen);

#endif
