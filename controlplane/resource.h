/* The generic, descriptor-driven resource layer. Each kind of resource is a
 * row in a table (its protobuf-c descriptor, id prefix, parent, references,
 * defaults, validation, unique keys); Create/Get/List/Update/Delete are
 * written once over that table. Adding a kind is one row plus validation. */
#ifndef CP_RESOURCE_H
#define CP_RESOURCE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "ap_rpc.h"
#include "store.h"

#define CP_KEY_MAX 600
#define CP_MAX_KEYS 3

typedef struct st_cp_kind_t cp_kind_t;

/* A field that names another resource (id or name on input, id stored). */
typedef struct st_cp_ref_t {
    const char *field;
    const cp_kind_t *target;
} cp_ref_t;

struct st_cp_kind_t {
    /* "collection": used in keys, change log, messages */
    const char *name;
    /* id prefix: "col" -> "col_0193a1b2c3d4e5f6" */
    const char *id_prefix;
    const ProtobufCMessageDescriptor *desc;
    /* the field naming the owning resource, and its kind; children are deleted
     * with their parent */
    const char *parent_field;
    const cp_kind_t *parent;
    /* non-owning references; deleting a target is refused while they exist,
     * unless cascaded (then the reference is removed) */
    const cp_ref_t *refs;
    size_t n_refs;
    /* fills defaults (after references are resolved) */
    void (*defaults)(ProtobufCMessage *m);
    /* checks a complete resource; sets INVALID_ARGUMENT naming the field */
    int (*validate)(const ProtobufCMessage *m, ap_status_t *st);
    /* unique keys within the parent ("name:x"); returns how many */
    size_t (*keys)(const ProtobufCMessage *m, char keys[CP_MAX_KEYS][CP_KEY_MAX]);
};

extern const cp_kind_t CP_KIND_COLLECTION, CP_KIND_ENDPOINT, CP_KIND_CLIENT, CP_KIND_PROFILE,
    CP_KIND_POLICY, CP_KIND_TOKEN;
/* every kind, parents before children; NULL-terminated */
extern const cp_kind_t *const cp_kinds[];

/* Resolves an id or a name (within parent_ref, an id or name of the parent
 * kind, when given) to an id (64 bytes). Returns 0, or -1 with st set. */
int cp_res_resolve(cp_store_t *s, const cp_kind_t *k, const char *ref, const char *parent_ref,
                   char *id, ap_status_t *st);
/* The stored resource, or NULL with st set (NOT_FOUND). */
ProtobufCMessage *cp_res_get(cp_store_t *s, const cp_kind_t *k, const char *ref,
                             const char *parent_ref, ap_status_t *st);
/* A page of resources, oldest first, optionally of one parent. *items is a
 * malloc'd array of malloc'd messages; *next a malloc'd token ("" = last). */
int cp_res_list(cp_store_t *s, const cp_kind_t *k, const char *parent_ref, uint32_t page_size,
                const char *page_token, ProtobufCMessage ***items, size_t *n, char **next,
                ap_status_t *st);
/* Calls fn for every stored resource of kind k (unpacked, freed after). */
void cp_res_each(cp_store_t *s, const cp_kind_t *k, void (*fn)(void *ctx, ProtobufCMessage *m),
                 void *ctx);
/* Creates a resource from `in` (server-set fields ignored): references
 * resolved, defaults, validation, unique keys, one transaction. Returns the
 * stored copy or NULL with st set. */
ProtobufCMessage *cp_res_create(cp_store_t *s, const cp_kind_t *k, const ProtobufCMessage *in,
                                const char *actor, ap_status_t *st);
/* Copies the masked fields of patch (all settable ones if the mask is
 * empty) onto the stored resource and saves it. expected_revision 0 = any. */
ProtobufCMessage *cp_res_update(cp_store_t *s, const cp_kind_t *k, const char *ref,
                                const char *parent_ref, const ProtobufCMessage *patch,
                                char *const *mask, size_t n_mask, uint64_t expected_revision,
                                const char *actor, ap_status_t *st);
/* Deletes a resource with its children. With cascade, references to it are
 * removed; without, they make it FAILED_PRECONDITION. Returns the revision
 * and (if out is non-NULL) a malloc'd DeleteResponse-style change list. */
uint64_t cp_res_delete(cp_store_t *s, const cp_kind_t *k, const char *ref, const char *parent_ref,
                       uint64_t expected_revision, int cascade, const char *actor,
                       Apiplatform__V1__Change ***changes, size_t *n_changes, ap_status_t *st);

/* Store keys: the resource ("r/<kind>/<id>") and a unique index entry
 * ("n/<kind>/<parent id>/<key>"). */
void cp_res_key(char *buf, size_t n, const cp_kind_t *k, const char *id);
void cp_res_index_key(char *buf, size_t n, const cp_kind_t *k, const char *parent_id,
                      const char *key);
/* Whether a top-level field is set by the server only (id, times, revision). */
int cp_res_output_only(const char *field);

/* A new id for kind k (64 bytes). */
void cp_res_new_id(const cp_kind_t *k, char *id);

#endif
