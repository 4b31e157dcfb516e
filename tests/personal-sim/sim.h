/*
 * personal-sim: a test double for Nexus Personal Desktop Client's
 * personal.dll (see README.md beside this file).
 *
 * Internal declarations shared by the simulator's own files. The simulator
 * shares no code with the shim on purpose (issue 3: "it shares no code with
 * the shim, so it cannot hide the shim's bugs"), so it has its own header.
 */
#ifndef PERSONAL_SIM_H
#define PERSONAL_SIM_H

#ifdef _WIN32
/* p11-kit's pkcs11.h then declares every C_* __declspec(dllexport). */
#define CRYPTOKI_EXPORTS
#endif
#include <p11-kit/pkcs11.h>

#include <stddef.h>

/* Everything not a C_* entry point stays inside the module. */
#if defined(__GNUC__) && !defined(_WIN32)
#define SIM_HIDDEN __attribute__((visibility("hidden")))
#else
#define SIM_HIDDEN
#endif

#define SIM_MANUFACTURER "Nexus Group"

/*
 * Vendor user type of Personal's own PIN unblocking login: it logs in with
 * the administrative secret that is NOT the card's SO credential (the guide: "the
 * PUK is only used for the Personal-specific PIN unblocking method").
 */
#define CKU_PERSONAL_UNBLOCK 0x80000001UL /* CKU_VENDOR_DEFINED | 1 */

#define SIM_MIN_PIN 4
#define SIM_MAX_PIN 16
#define SIM_MAX_TRIES 3

/*
 * Handle ranges. Token objects come from a counter in the state file, so the
 * same object has the same handle in every process; session objects come
 * from a per-process counter in a range of their own. Handles at or above
 * 0x80000000 are never used, so a layer above may take them.
 */
#define SIM_FIRST_TOKEN_HANDLE 0x101UL
#define SIM_FIRST_SESSION_HANDLE 0x40000001UL

enum sim_secret_id { SECRET_PIN = 0, SECRET_PUK, SECRET_OPIN, SECRET_COUNT };

enum sim_erase { ERASE_ANONYMOUS, ERASE_CREDENTIAL, ERASE_NEVER };

/* ---- configuration (conf.c) ---- */

struct sim_card_conf {
	char *name; /* NAME of [card.NAME] */
	int line;   /* line of the section header */
	char model[17];
	char label[33];
	char serial[17];
	unsigned char secret[SECRET_COUNT][SIM_MAX_PIN];
	size_t secret_len[SECRET_COUNT];
	enum sim_secret_id so; /* SECRET_PUK or SECRET_OPIN */
	enum sim_erase erase;
};

struct sim_reader_conf {
	unsigned long number; /* N of [reader.N]; slot ID is 2N+1 */
	int line;
	char name[65];
	int is_virtual;
	int card; /* index into sim_conf.cards, -1: empty reader */
};

struct sim_conf {
	char *path;
	char version[32];
	unsigned int vmajor, vminor, vpatch;
	char *personal_cfg;              /* resolved path, NULL when not configured */
	struct sim_reader_conf *readers; /* sorted by number */
	size_t nreaders;
	struct sim_card_conf *cards;
	size_t ncards;
};

SIM_HIDDEN int conf_load(const char *path, struct sim_conf **out);
SIM_HIDDEN void conf_free(struct sim_conf *conf);
SIM_HIDDEN int conf_personal_cache_on(const char *path);
SIM_HIDDEN const struct sim_card_conf *conf_card(const struct sim_conf *conf, size_t reader);
SIM_HIDDEN enum sim_secret_id conf_other_admin(const struct sim_card_conf *card);
SIM_HIDDEN int conf_is_cardos(const struct sim_card_conf *card);

/* ---- card state (store.c) ---- */

struct sim_attr {
	CK_ATTRIBUTE_TYPE type;
	CK_ULONG len;
	unsigned char *value;
};

#define OBJ_ERASER 0x1U /* the native "Card Eraser" object */

struct sim_object {
	CK_OBJECT_HANDLE handle;
	unsigned int flags;
	size_t nattrs;
	struct sim_attr *attrs;
};

struct sim_secret {
	int set;
	int tries;
	size_t len;
	unsigned char value[SIM_MAX_PIN];
};

struct sim_card {
	int present; /* the reader holds a card */
	char label[33];
	char serial[17];
	int initialized;
	struct sim_secret secret[SECRET_COUNT];
	struct sim_object *objects;
	size_t nobjects;
};

struct sim_state {
	unsigned long generation;
	CK_OBJECT_HANDLE next_handle;
	size_t ncards; /* one per configured reader, same order */
	struct sim_card *cards;
};

SIM_HIDDEN int store_init(const struct sim_conf *conf, const char *path);
SIM_HIDDEN void store_fini(void);
SIM_HIDDEN int store_read(struct sim_state **out);
SIM_HIDDEN int store_begin(struct sim_state **out);
SIM_HIDDEN int store_commit(struct sim_state *st);
SIM_HIDDEN void store_abort(void);

SIM_HIDDEN void state_free(struct sim_state *st);
SIM_HIDDEN void card_clear_objects(struct sim_card *card, int keep_eraser);
SIM_HIDDEN int card_copy(struct sim_card *dst, const struct sim_card *src);
SIM_HIDDEN struct sim_object *card_object(struct sim_card *card, CK_OBJECT_HANDLE handle);
SIM_HIDDEN int card_add_object(struct sim_card *card, const struct sim_object *obj);
SIM_HIDDEN void card_remove_object(struct sim_card *card, CK_OBJECT_HANDLE handle);
SIM_HIDDEN void card_reset_secrets(struct sim_card *card);

SIM_HIDDEN void object_free(struct sim_object *obj);
SIM_HIDDEN int object_copy(struct sim_object *dst, const struct sim_object *src);
SIM_HIDDEN struct sim_attr *object_attr(const struct sim_object *obj, CK_ATTRIBUTE_TYPE type);
SIM_HIDDEN int object_set(struct sim_object *obj, CK_ATTRIBUTE_TYPE type, const void *value,
                          CK_ULONG len);
SIM_HIDDEN int object_bool(const struct sim_object *obj, CK_ATTRIBUTE_TYPE type, int dflt);
SIM_HIDDEN int object_ulong(const struct sim_object *obj, CK_ATTRIBUTE_TYPE type, CK_ULONG *out);

/* ---- OS specifics (top of store.c) ---- */

SIM_HIDDEN long sim_getpid(void);
SIM_HIDDEN void sim_mutex_lock(void);
SIM_HIDDEN void sim_mutex_unlock(void);

#endif /* PERSONAL_SIM_H */
