/*
 * personal-sim: the PKCS#11 v2.40 entry points of the Personal Desktop
 * Client stand-in. README.md says what each behaviour is and which part of
 * the vendor documentation (Nexus's Personal integration guide, the Smart
 * ID Identity Manager article "Create encoding descriptions for Nexus
 * Personal Desktop Client": "the guide") it comes from.
 *
 * Sessions and logins live in this process; card contents live in the store
 * (store.c), which several processes share. Each entry point holds the
 * module mutex for its whole run.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) && !defined(_WIN32)
#define SIM_EXPORT __attribute__((visibility("default")))
#else
#define SIM_EXPORT /* Windows: CRYPTOKI_EXPORTS in sim.h */
#endif

#define NOBODY ((CK_USER_TYPE)-1)

struct session {
	CK_SESSION_HANDLE handle;
	size_t slot; /* reader index */
	CK_FLAGS flags;
	int finding;
	CK_OBJECT_HANDLE *found;
	size_t nfound, pos;
	int signing;
	CK_MECHANISM_TYPE sign_mech;
	CK_OBJECT_HANDLE sign_key;
	CK_ULONG sign_len;
};

struct session_object {
	struct sim_object obj;
	CK_SESSION_HANDLE owner;
	size_t slot;
};

static struct {
	int initialized;
	long pid;
	struct sim_conf *conf;
	int cache_on;
	struct sim_state *snapshot; /* cache on: the per-process copy */
	struct sim_state *view;     /* cache off: the copy read by this call */
	struct session **sessions;
	size_t nsessions;
	CK_SESSION_HANDLE next_session;
	struct session_object *sobjs;
	size_t nsobjs;
	CK_OBJECT_HANDLE next_sobj;
	CK_USER_TYPE *login; /* per reader: who is logged in, NOBODY */
	uint64_t rng;
} g;

/* ---- small helpers ---- */

static void pad(CK_UTF8CHAR *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	memset(dst, ' ', size);
	memcpy(dst, src, len < size ? len : size);
}

static CK_SLOT_ID slot_id(size_t idx)
{
	/* Odd, non-contiguous IDs so that index/ID mix-ups show (STYLE.md 8). */
	return (CK_SLOT_ID)(2 * g.conf->readers[idx].number + 1);
}

static uint64_t rng_next(void)
{
	uint64_t x = g.rng;

	/* xorshift64*: placeholder key material, not cryptography (issue 3). */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	g.rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void rng_fill(unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(rng_next() >> 56);
}

static void free_session(struct session *s)
{
	free(s->found);
	free(s);
}

static void reset_all(void)
{
	size_t i;

	for (i = 0; i < g.nsessions; i++)
		free_session(g.sessions[i]);
	free(g.sessions);
	for (i = 0; i < g.nsobjs; i++)
		object_free(&g.sobjs[i].obj);
	free(g.sobjs);
	state_free(g.snapshot);
	state_free(g.view);
	free(g.login);
	store_fini();
	conf_free(g.conf);
	memset(&g, 0, sizeof(g));
}

static CK_RV ready(void)
{
	/*
	 * A forked child starts uninitialised: sessions and logins belong to
	 * the parent (PKCS#11 v2.40 section 6.7.7 leaves fork to the
	 * application, which must C_Initialize again).
	 */
	if (g.initialized && g.pid != sim_getpid())
		reset_all();
	return g.initialized ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED;
}

#define LOCKED(expr)                  \
	do {                          \
		CK_RV rv_;            \
		sim_mutex_lock();     \
		rv_ = ready();        \
		if (rv_ == CKR_OK)    \
			rv_ = (expr); \
		sim_mutex_unlock();   \
		return rv_;           \
	} while (0)

static CK_RV slot_index(CK_SLOT_ID id, size_t *idx)
{
	size_t i;

	for (i = 0; i < g.conf->nreaders; i++) {
		if (slot_id(i) == id) {
			*idx = i;
			return CKR_OK;
		}
	}
	return CKR_SLOT_ID_INVALID;
}

/*
 * A slot whose token may be used. A virtual reader answers
 * CKR_GENERAL_ERROR to every token call, as the guide reports Personal does
 * ("confused by virtual smartcards on Windows (for example, GENERAL_ERROR on
 * C_GetProperty)"); C_GetSlotInfo alone still works there.
 */
static CK_RV token_index(CK_SLOT_ID id, size_t *idx)
{
	CK_RV rv = slot_index(id, idx);

	if (rv != CKR_OK)
		return rv;
	if (g.conf->readers[*idx].is_virtual)
		return CKR_GENERAL_ERROR;
	if (g.conf->readers[*idx].card < 0)
		return CKR_TOKEN_NOT_PRESENT;
	return CKR_OK;
}

static struct session *session_get(CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; i < g.nsessions; i++) {
		if (g.sessions[i]->handle == h)
			return g.sessions[i];
	}
	return NULL;
}

static size_t count_sessions(size_t idx, int rw_only, int ro_only)
{
	size_t i, n = 0;

	for (i = 0; i < g.nsessions; i++) {
		int rw = (g.sessions[i]->flags & CKF_RW_SESSION) != 0;

		if (g.sessions[i]->slot != idx || (rw_only && !rw) || (ro_only && rw))
			continue;
		n++;
	}
	return n;
}

/* Which secret the current login of this slot presented; -1: nobody. */
static int login_secret(size_t idx)
{
	const struct sim_card_conf *cc = conf_card(g.conf, idx);
	CK_USER_TYPE u = g.login[idx];

	if (!cc || u == NOBODY)
		return -1;
	if (u == CKU_USER)
		return SECRET_PIN;
	if (u == CKU_SO)
		return (int)cc->so;
	return (int)conf_other_admin(cc);
}

static int visible(size_t idx, const struct sim_object *obj)
{
	/* Private objects only to the normal user (PKCS#11 v2.40 section 4.4). */
	return !object_bool(obj, CKA_PRIVATE, 0) || g.login[idx] == CKU_USER;
}

static struct session_object *session_object(size_t idx, CK_OBJECT_HANDLE h)
{
	size_t i;

	for (i = 0; i < g.nsobjs; i++) {
		if (g.sobjs[i].obj.handle == h && g.sobjs[i].slot == idx)
			return &g.sobjs[i];
	}
	return NULL;
}

static void remove_session_object(CK_OBJECT_HANDLE h)
{
	size_t i;

	for (i = 0; i < g.nsobjs; i++) {
		if (g.sobjs[i].obj.handle == h) {
			object_free(&g.sobjs[i].obj);
			memmove(&g.sobjs[i], &g.sobjs[i + 1], (g.nsobjs - i - 1) * sizeof(*g.sobjs));
			g.nsobjs--;
			return;
		}
	}
}

/* ---- the card state as this process sees it ---- */

/*
 * The state for reading. Cache on (Personal.cfg without CacheValidity=0):
 * the snapshot taken at the first token access after C_Initialize, so a
 * change by another process stays unseen until C_Finalize + C_Initialize,
 * which is the "outdated data" the guide warns about. Cache off: the store,
 * read afresh on every call.
 */
static CK_RV view(struct sim_state **st)
{
	if (g.cache_on) {
		if (!g.snapshot && store_read(&g.snapshot) < 0)
			return CKR_GENERAL_ERROR;
		*st = g.snapshot;
		return CKR_OK;
	}
	state_free(g.view);
	g.view = NULL;
	if (store_read(&g.view) < 0)
		return CKR_GENERAL_ERROR;
	*st = g.view;
	return CKR_OK;
}

/*
 * Changes always work on the store itself (the card), under its exclusive
 * lock, never on the snapshot: what is written is what the card would hold.
 */
static CK_RV edit_begin(struct sim_state **st)
{
	return store_begin(st) < 0 ? CKR_GENERAL_ERROR : CKR_OK;
}

static CK_RV edit_end(struct sim_state *st, int changed)
{
	if (!changed) {
		store_abort();
		return CKR_OK;
	}
	return store_commit(st) < 0 ? CKR_GENERAL_ERROR : CKR_OK;
}

enum {
	SYNC_SECRETS = 1, /* retry counters and secrets */
	SYNC_CARD = 2     /* everything on the card */
};

/*
 * The cache learns this process's own changes, and only those: the rest of
 * the snapshot stays as stale as it was.
 */
static void sync_card(struct sim_state *fresh, size_t idx, unsigned int what)
{
	struct sim_card *snap;

	if (!g.cache_on || !g.snapshot)
		return;
	snap = &g.snapshot->cards[idx];
	if (what & SYNC_CARD)
		card_copy(snap, &fresh->cards[idx]);
	else if (what & SYNC_SECRETS)
		memcpy(snap->secret, fresh->cards[idx].secret, sizeof(snap->secret));
}

static void sync_object(struct sim_state *fresh, size_t idx, CK_OBJECT_HANDLE h)
{
	struct sim_object *src, *dst, copy;

	if (!g.cache_on || !g.snapshot)
		return;
	src = card_object(&fresh->cards[idx], h);
	dst = card_object(&g.snapshot->cards[idx], h);
	if (!src) {
		card_remove_object(&g.snapshot->cards[idx], h);
	} else if (dst) {
		if (object_copy(&copy, src) == 0) {
			object_free(dst);
			*dst = copy;
		}
	} else {
		card_add_object(&g.snapshot->cards[idx], src);
	}
}

/*
 * Checks a presented secret the way the card does: a locked secret is not
 * tried, a wrong length never reaches the card (so costs no try), a wrong
 * value costs one of SIM_MAX_TRIES tries, a right one restores them.
 */
static CK_RV check_secret(struct sim_card *card, int id, CK_UTF8CHAR_PTR pin, CK_ULONG len,
                          int *changed)
{
	struct sim_secret *s = &card->secret[id];
	unsigned char diff = 0;
	CK_ULONG i;

	if (!card->initialized || !s->set)
		return CKR_USER_PIN_NOT_INITIALIZED;
	if (s->tries <= 0)
		return CKR_PIN_LOCKED;
	if (!pin || len < SIM_MIN_PIN || len > SIM_MAX_PIN)
		return CKR_PIN_LEN_RANGE;
	if (len != s->len) {
		diff = 1;
	} else {
		for (i = 0; i < len; i++)
			diff |= pin[i] ^ s->value[i];
	}
	if (diff) {
		s->tries--;
		*changed = 1;
		return CKR_PIN_INCORRECT;
	}
	if (s->tries != SIM_MAX_TRIES) {
		s->tries = SIM_MAX_TRIES;
		*changed = 1;
	}
	return CKR_OK;
}

static void set_secret(struct sim_secret *s, CK_UTF8CHAR_PTR value, CK_ULONG len)
{
	memset(s, 0, sizeof(*s));
	s->set = 1;
	s->tries = SIM_MAX_TRIES;
	s->len = len;
	memcpy(s->value, value, len);
}

/*
 * Seed, "Change PUK": "Nexus Personal Desktop Client 5.7.1 or lower does not
 * support changing the PUK. [...] 5.7.2 or higher does support changing the
 * PUK, but only for specific cards: Cosmo 7, Cosmo 8.2".
 */
static int puk_change_supported(size_t idx)
{
	const struct sim_card_conf *cc = conf_card(g.conf, idx);
	const struct sim_conf *c = g.conf;
	int new_enough;

	new_enough = c->vmajor > 5 ||
	             (c->vmajor == 5 && (c->vminor > 7 || (c->vminor == 7 && c->vpatch >= 2)));
	return new_enough &&
	       (strcmp(cc->model, "Cosmo 7") == 0 || strcmp(cc->model, "Cosmo 8.2") == 0);
}

/* ---- general purpose ---- */

static CK_RV initialize(CK_VOID_PTR init_args)
{
	CK_C_INITIALIZE_ARGS *args = init_args;
	const char *conf_path, *state_path;
	struct sim_conf *conf = NULL;

	if (g.initialized && g.pid != sim_getpid())
		reset_all();
	if (g.initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	if (args) {
		int n = (args->CreateMutex != NULL) + (args->DestroyMutex != NULL) +
		        (args->LockMutex != NULL) + (args->UnlockMutex != NULL);

		if (args->pReserved || (n != 0 && n != 4))
			return CKR_ARGUMENTS_BAD;
		/*
		 * With or without the application's mutex callbacks the
		 * module uses its own OS lock; every client we meet (Java,
		 * NSS, pkcs11-tool) also sets CKF_OS_LOCKING_OK or passes none.
		 */
	}

	conf_path = getenv("PERSONAL_SIM_CONF");
	if (!conf_path || !*conf_path) {
		fprintf(stderr, "personal-sim: PERSONAL_SIM_CONF is not set: it must name the "
		                "simulator's INI configuration (see tests/personal-sim/README.md)\n");
		return CKR_GENERAL_ERROR;
	}
	if (conf_load(conf_path, &conf) < 0)
		return CKR_GENERAL_ERROR;

	state_path = getenv("PERSONAL_SIM_STATE");
	if (store_init(conf, state_path) < 0) {
		conf_free(conf);
		return CKR_GENERAL_ERROR;
	}

	g.login = malloc(conf->nreaders * sizeof(*g.login));
	if (!g.login) {
		store_fini();
		conf_free(conf);
		return CKR_HOST_MEMORY;
	}
	for (size_t i = 0; i < conf->nreaders; i++)
		g.login[i] = NOBODY;
	g.conf = conf;
	g.cache_on = conf_personal_cache_on(conf->personal_cfg);
	g.pid = sim_getpid();
	g.next_session = 1;
	g.next_sobj = SIM_FIRST_SESSION_HANDLE;
	g.rng = (uint64_t)time(NULL) ^ ((uint64_t)g.pid << 32) ^ (uint64_t)(uintptr_t)&g ^
	        (uint64_t)clock();
	if (g.rng == 0)
		g.rng = 0x9E3779B97F4A7C15ULL;
	g.initialized = 1;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_Initialize(CK_VOID_PTR init_args)
{
	CK_RV rv;

	sim_mutex_lock();
	rv = initialize(init_args);
	sim_mutex_unlock();
	return rv;
}

static CK_RV finalize(CK_VOID_PTR reserved)
{
	if (reserved)
		return CKR_ARGUMENTS_BAD;
	reset_all();
	return CKR_OK;
}

SIM_EXPORT CK_RV C_Finalize(CK_VOID_PTR reserved)
{
	LOCKED(finalize(reserved));
}

static CK_RV get_info(CK_INFO_PTR info)
{
	char desc[64];

	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	pad(info->manufacturerID, sizeof(info->manufacturerID), SIM_MANUFACTURER);
	/* "Personal 5.7.2": issue 4's shim takes the last dotted version from here. */
	snprintf(desc, sizeof(desc), "Personal %s", g.conf->version);
	pad(info->libraryDescription, sizeof(info->libraryDescription), desc);
	info->libraryVersion.major = (CK_BYTE)g.conf->vmajor;
	info->libraryVersion.minor = (CK_BYTE)g.conf->vminor;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_GetInfo(CK_INFO_PTR info)
{
	LOCKED(get_info(info));
}

/* ---- slots and tokens ---- */

static CK_RV get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_ULONG n = 0;
	size_t i;

	if (!count)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < g.conf->nreaders; i++) {
		if (!present || g.conf->readers[i].card >= 0)
			n++;
	}
	if (!list) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	n = 0;
	for (i = 0; i < g.conf->nreaders; i++) {
		if (!present || g.conf->readers[i].card >= 0)
			list[n++] = slot_id(i);
	}
	*count = n;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	LOCKED(get_slot_list(present, list, count));
}

static CK_RV get_slot_info(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
	size_t idx;
	CK_RV rv = slot_index(id, &idx);

	if (rv != CKR_OK)
		return rv;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	pad(info->slotDescription, sizeof(info->slotDescription), g.conf->readers[idx].name);
	pad(info->manufacturerID, sizeof(info->manufacturerID), SIM_MANUFACTURER);
	info->flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
	if (g.conf->readers[idx].card >= 0)
		info->flags |= CKF_TOKEN_PRESENT;
	info->hardwareVersion.major = 1;
	info->firmwareVersion.major = 1;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
	LOCKED(get_slot_info(id, info));
}

static CK_FLAGS counter_flags(const struct sim_secret *s, CK_FLAGS low, CK_FLAGS final,
                              CK_FLAGS locked)
{
	if (!s->set || s->tries >= SIM_MAX_TRIES)
		return 0;
	if (s->tries <= 0)
		return locked;
	if (s->tries == 1)
		return low | final;
	return low;
}

static CK_RV get_token_info(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
	const struct sim_card_conf *cc;
	struct sim_state *st;
	struct sim_card *card;
	size_t idx;
	CK_RV rv = token_index(id, &idx);

	if (rv != CKR_OK)
		return rv;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	rv = view(&st);
	if (rv != CKR_OK)
		return rv;
	card = &st->cards[idx];
	cc = conf_card(g.conf, idx);

	memset(info, 0, sizeof(*info));
	pad(info->label, sizeof(info->label), card->label);
	pad(info->manufacturerID, sizeof(info->manufacturerID), SIM_MANUFACTURER);
	pad(info->model, sizeof(info->model), cc->model);
	pad(info->serialNumber, sizeof(info->serialNumber), card->serial);
	info->flags = CKF_RNG | CKF_LOGIN_REQUIRED;
	if (card->initialized)
		info->flags |= CKF_TOKEN_INITIALIZED;
	if (card->secret[SECRET_PIN].set)
		info->flags |= CKF_USER_PIN_INITIALIZED;
	info->flags |= counter_flags(&card->secret[SECRET_PIN], CKF_USER_PIN_COUNT_LOW,
	                             CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED);
	info->flags |= counter_flags(&card->secret[cc->so], CKF_SO_PIN_COUNT_LOW,
	                             CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED);
	info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulSessionCount = count_sessions(idx, 0, 0);
	info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulRwSessionCount = count_sessions(idx, 1, 0);
	info->ulMaxPinLen = SIM_MAX_PIN;
	info->ulMinPinLen = SIM_MIN_PIN;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion.major = 1;
	info->firmwareVersion.major = 1;
	memset(info->utcTime, ' ', sizeof(info->utcTime));
	return CKR_OK;
}

SIM_EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
	LOCKED(get_token_info(id, info));
}

static const struct {
	CK_MECHANISM_TYPE type;
	CK_MECHANISM_INFO info;
} mechanisms[] = {
	{ CKM_RSA_PKCS_KEY_PAIR_GEN, { 1024, 4096, CKF_HW | CKF_GENERATE_KEY_PAIR } },
	{ CKM_RSA_PKCS, { 1024, 4096, CKF_HW | CKF_SIGN } },
	{ CKM_EC_KEY_PAIR_GEN,
	  { 256, 521,
	    CKF_HW | CKF_GENERATE_KEY_PAIR | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS } },
	{ CKM_ECDSA,
	  { 256, 521, CKF_HW | CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS } },
};

#define N_MECHANISMS (sizeof(mechanisms) / sizeof(mechanisms[0]))

static CK_RV get_mechanism_list(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	size_t idx, i;
	CK_RV rv = token_index(id, &idx);

	if (rv != CKR_OK)
		return rv;
	if (!count)
		return CKR_ARGUMENTS_BAD;
	if (!list) {
		*count = N_MECHANISMS;
		return CKR_OK;
	}
	if (*count < N_MECHANISMS) {
		*count = N_MECHANISMS;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; i < N_MECHANISMS; i++)
		list[i] = mechanisms[i].type;
	*count = N_MECHANISMS;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	LOCKED(get_mechanism_list(id, list, count));
}

static CK_RV get_mechanism_info(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	size_t idx, i;
	CK_RV rv = token_index(id, &idx);

	if (rv != CKR_OK)
		return rv;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < N_MECHANISMS; i++) {
		if (mechanisms[i].type == type) {
			*info = mechanisms[i].info;
			return CKR_OK;
		}
	}
	return CKR_MECHANISM_INVALID;
}

SIM_EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	LOCKED(get_mechanism_info(id, type, info));
}

/*
 * C_InitToken: checks the SO credential the card profile chose (PUK or
 * operator PIN, the guide: "Use operator PIN vs. PUK to log in"), destroys every
 * object but the native Card Eraser, sets the label, keeps the serial
 * number, and leaves the user PIN uninitialised (PKCS#11 v2.40 section
 * 5.6, C_InitToken). On an uninitialised (erased) card, pin becomes the SO
 * credential and the other administrative secret goes back to its
 * configured value, as the card profile would write it.
 */
static CK_RV init_token(CK_SLOT_ID id, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label)
{
	const struct sim_card_conf *cc;
	struct sim_state *st;
	struct sim_card *card;
	int changed = 0;
	size_t idx, n;
	CK_RV rv = token_index(id, &idx), rv2;

	if (rv != CKR_OK)
		return rv;
	if (!label)
		return CKR_ARGUMENTS_BAD;
	if (count_sessions(idx, 0, 0) > 0)
		return CKR_SESSION_EXISTS;
	cc = conf_card(g.conf, idx);
	rv = edit_begin(&st);
	if (rv != CKR_OK)
		return rv;
	card = &st->cards[idx];
	if (card->initialized) {
		rv = check_secret(card, cc->so, pin, len, &changed);
	} else if (!pin || len < SIM_MIN_PIN || len > SIM_MAX_PIN) {
		rv = CKR_PIN_LEN_RANGE;
	} else {
		enum sim_secret_id other = conf_other_admin(cc);

		set_secret(&card->secret[cc->so], pin, len);
		set_secret(&card->secret[other], (CK_UTF8CHAR_PTR)cc->secret[other],
		           cc->secret_len[other]);
	}
	if (rv == CKR_OK) {
		card_clear_objects(card, 1);
		memcpy(card->label, label, 32);
		for (n = 32; n > 0 && card->label[n - 1] == ' '; n--)
			;
		card->label[n] = '\0';
		card->initialized = 1;
		memset(&card->secret[SECRET_PIN], 0, sizeof(card->secret[SECRET_PIN]));
		card->secret[SECRET_PIN].tries = SIM_MAX_TRIES;
		changed = 1;
	}
	rv2 = edit_end(st, changed);
	if (rv2 != CKR_OK)
		rv = rv2;
	else if (changed)
		sync_card(st, idx, rv == CKR_OK ? SYNC_CARD : SYNC_SECRETS);
	state_free(st);
	return rv;
}

SIM_EXPORT CK_RV C_InitToken(CK_SLOT_ID id, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label)
{
	LOCKED(init_token(id, pin, len, label));
}

/* ---- sessions ---- */

static CK_RV open_session(CK_SLOT_ID id, CK_FLAGS flags, CK_SESSION_HANDLE_PTR out)
{
	struct session *s, **mem;
	size_t idx;
	CK_RV rv = token_index(id, &idx);

	if (rv != CKR_OK)
		return rv;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (!out)
		return CKR_ARGUMENTS_BAD;
	if (!(flags & CKF_RW_SESSION) && g.login[idx] != NOBODY && g.login[idx] != CKU_USER)
		return CKR_SESSION_READ_WRITE_SO_EXISTS;
	s = calloc(1, sizeof(*s));
	mem = realloc(g.sessions, (g.nsessions + 1) * sizeof(*g.sessions));
	if (!s || !mem) {
		free(s);
		if (mem)
			g.sessions = mem;
		return CKR_HOST_MEMORY;
	}
	g.sessions = mem;
	s->handle = g.next_session++;
	s->slot = idx;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	g.sessions[g.nsessions++] = s;
	*out = s->handle;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_OpenSession(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                               CK_SESSION_HANDLE_PTR out)
{
	(void)app;
	(void)notify;
	LOCKED(open_session(id, flags, out));
}

static void close_one(size_t i)
{
	struct session *s = g.sessions[i];
	size_t j, idx = s->slot;

	for (j = 0; j < g.nsobjs;) {
		if (g.sobjs[j].owner == s->handle)
			remove_session_object(g.sobjs[j].obj.handle);
		else
			j++;
	}
	free_session(s);
	memmove(&g.sessions[i], &g.sessions[i + 1], (g.nsessions - i - 1) * sizeof(*g.sessions));
	g.nsessions--;
	/* The login ends with the last session of the slot (PKCS#11 v2.40 section 5.6). */
	if (count_sessions(idx, 0, 0) == 0)
		g.login[idx] = NOBODY;
}

static CK_RV close_session(CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; i < g.nsessions; i++) {
		if (g.sessions[i]->handle == h) {
			close_one(i);
			return CKR_OK;
		}
	}
	return CKR_SESSION_HANDLE_INVALID;
}

SIM_EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	LOCKED(close_session(h));
}

static CK_RV close_all_sessions(CK_SLOT_ID id)
{
	size_t idx, i;
	CK_RV rv = token_index(id, &idx);

	if (rv != CKR_OK)
		return rv;
	for (i = 0; i < g.nsessions;) {
		if (g.sessions[i]->slot == idx)
			close_one(i);
		else
			i++;
	}
	return CKR_OK;
}

SIM_EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID id)
{
	LOCKED(close_all_sessions(id));
}

static CK_RV get_session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct session *s = session_get(h);
	CK_USER_TYPE u;
	int rw;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	u = g.login[s->slot];
	rw = (s->flags & CKF_RW_SESSION) != 0;
	memset(info, 0, sizeof(*info));
	info->slotID = slot_id(s->slot);
	info->flags = s->flags;
	if (u == CKU_SO || u == CKU_PERSONAL_UNBLOCK)
		info->state = CKS_RW_SO_FUNCTIONS;
	else if (u == CKU_USER)
		info->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	else
		info->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	LOCKED(get_session_info(h, info));
}

/* ---- login and secrets ---- */

static CK_RV login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	struct session *s = session_get(h);
	const struct sim_card_conf *cc;
	struct sim_state *st;
	int id, changed = 0;
	size_t idx;
	CK_RV rv, rv2;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	idx = s->slot;
	cc = conf_card(g.conf, idx);
	if (user == CKU_CONTEXT_SPECIFIC) {
		if (g.login[idx] != CKU_USER)
			return CKR_USER_NOT_LOGGED_IN;
		if (!s->signing)
			return CKR_OPERATION_NOT_INITIALIZED;
		id = SECRET_PIN;
	} else if (user == CKU_USER || user == CKU_SO || user == CKU_PERSONAL_UNBLOCK) {
		if (g.login[idx] == user)
			return CKR_USER_ALREADY_LOGGED_IN;
		if (g.login[idx] != NOBODY)
			return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
		if (user != CKU_USER && count_sessions(idx, 0, 1) > 0)
			return CKR_SESSION_READ_ONLY_EXISTS;
		/* Seed: the card profile decides whether CKU_SO means PUK or operator PIN. */
		if (user == CKU_USER)
			id = SECRET_PIN;
		else if (user == CKU_SO)
			id = cc->so;
		else
			id = conf_other_admin(cc);
	} else {
		return CKR_USER_TYPE_INVALID;
	}

	rv = edit_begin(&st);
	if (rv != CKR_OK)
		return rv;
	rv = check_secret(&st->cards[idx], id, pin, len, &changed);
	rv2 = edit_end(st, changed);
	if (rv2 != CKR_OK)
		rv = rv2;
	else if (changed)
		sync_card(st, idx, SYNC_SECRETS);
	state_free(st);
	if (rv == CKR_OK && user != CKU_CONTEXT_SPECIFIC)
		g.login[idx] = user;
	return rv;
}

SIM_EXPORT CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	LOCKED(login(h, user, pin, len));
}

static CK_RV logout(CK_SESSION_HANDLE h)
{
	struct session *s = session_get(h);

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (g.login[s->slot] == NOBODY)
		return CKR_USER_NOT_LOGGED_IN;
	g.login[s->slot] = NOBODY;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	LOCKED(logout(h));
}

/*
 * C_SetPIN changes the secret of whoever is logged in: the PIN (user or
 * public session), the SO credential (CKU_SO) or the other administrative
 * secret (CKU_PERSONAL_UNBLOCK).
 *
 * A PUK change the middleware does not support (the guide, "Change PUK") fails
 * the way broken middleware does, leaving the card worse off: the new PUK
 * IS written, its retry counter is set to 0 (blocked), the call answers
 * CKR_DEVICE_ERROR and this process's login on the card ends. Afterwards
 * neither the old nor the new PUK logs in (CKR_PIN_LOCKED). That is why the
 * shim must refuse such a change before the card is touched (issue 4).
 */
static CK_RV set_pin(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old, CK_ULONG oldlen, CK_UTF8CHAR_PTR pin,
                     CK_ULONG len)
{
	struct session *s = session_get(h);
	struct sim_state *st;
	int id, changed = 0, damaged = 0;
	size_t idx;
	CK_RV rv, rv2;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	idx = s->slot;
	id = login_secret(idx);
	if (id < 0)
		id = SECRET_PIN;

	rv = edit_begin(&st);
	if (rv != CKR_OK)
		return rv;
	rv = check_secret(&st->cards[idx], id, old, oldlen, &changed);
	if (rv == CKR_OK && (!pin || len < SIM_MIN_PIN || len > SIM_MAX_PIN)) {
		rv = CKR_PIN_LEN_RANGE;
	} else if (rv == CKR_OK) {
		struct sim_secret *sec = &st->cards[idx].secret[id];

		set_secret(sec, pin, len);
		changed = 1;
		if (id == SECRET_PUK && !puk_change_supported(idx)) {
			sec->tries = 0;
			damaged = 1;
			rv = CKR_DEVICE_ERROR;
		}
	}
	rv2 = edit_end(st, changed);
	if (rv2 != CKR_OK)
		rv = rv2;
	else if (changed)
		sync_card(st, idx, SYNC_SECRETS);
	state_free(st);
	if (damaged)
		g.login[idx] = NOBODY;
	return rv;
}

SIM_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old, CK_ULONG oldlen,
                          CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	LOCKED(set_pin(h, old, oldlen, pin, len));
}

/* C_InitPIN: by the SO, or by the Personal unblock login, which exists for this. */
static CK_RV init_pin(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	struct session *s = session_get(h);
	struct sim_state *st;
	CK_RV rv;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (g.login[s->slot] != CKU_SO && g.login[s->slot] != CKU_PERSONAL_UNBLOCK)
		return CKR_USER_NOT_LOGGED_IN;
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (!pin || len < SIM_MIN_PIN || len > SIM_MAX_PIN)
		return CKR_PIN_LEN_RANGE;
	rv = edit_begin(&st);
	if (rv != CKR_OK)
		return rv;
	set_secret(&st->cards[s->slot].secret[SECRET_PIN], pin, len);
	rv = edit_end(st, 1);
	if (rv == CKR_OK)
		sync_card(st, s->slot, SYNC_SECRETS);
	state_free(st);
	return rv;
}

SIM_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	LOCKED(init_pin(h, pin, len));
}

/* ---- objects ---- */

static int is_bool_attr(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_TOKEN:
	case CKA_PRIVATE:
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
	case CKA_SENSITIVE:
	case CKA_EXTRACTABLE:
	case CKA_ENCRYPT:
	case CKA_DECRYPT:
	case CKA_SIGN:
	case CKA_VERIFY:
	case CKA_SIGN_RECOVER:
	case CKA_VERIFY_RECOVER:
	case CKA_WRAP:
	case CKA_UNWRAP:
	case CKA_DERIVE:
	case CKA_LOCAL:
	case CKA_TRUSTED:
	case CKA_ALWAYS_AUTHENTICATE:
	case CKA_ALWAYS_SENSITIVE:
	case CKA_NEVER_EXTRACTABLE:
	case CKA_WRAP_WITH_TRUSTED: return 1;
	default: return 0;
	}
}

static int is_ulong_attr(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_CLASS:
	case CKA_KEY_TYPE:
	case CKA_CERTIFICATE_TYPE:
	case CKA_MODULUS_BITS:
	case CKA_VALUE_LEN:
	case CKA_KEY_GEN_MECHANISM:
	case CKA_CERTIFICATE_CATEGORY:
	case CKA_JAVA_MIDP_SECURITY_DOMAIN:
	case CKA_NAME_HASH_ALGORITHM: return 1;
	default: return 0;
	}
}

static CK_RV check_template(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	CK_ULONG i, j;

	if (!tmpl && n)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < n; i++) {
		if (!tmpl[i].pValue && tmpl[i].ulValueLen)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (is_bool_attr(tmpl[i].type) && tmpl[i].ulValueLen != sizeof(CK_BBOOL))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (is_ulong_attr(tmpl[i].type) && tmpl[i].ulValueLen != sizeof(CK_ULONG))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		for (j = 0; j < i; j++) {
			if (tmpl[j].type == tmpl[i].type)
				return CKR_TEMPLATE_INCONSISTENT;
		}
	}
	return CKR_OK;
}

static int apply_template(struct sim_object *obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		if (object_set(obj, tmpl[i].type, tmpl[i].pValue, tmpl[i].ulValueLen) < 0)
			return -1;
	}
	return 0;
}

static int set_default(struct sim_object *obj, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len)
{
	if (object_attr(obj, type))
		return 0;
	return object_set(obj, type, value, len);
}

static int set_default_bool(struct sim_object *obj, CK_ATTRIBUTE_TYPE type, int value)
{
	CK_BBOOL b = value ? CK_TRUE : CK_FALSE;

	return set_default(obj, type, &b, sizeof(b));
}

/* CKA_TOKEN and CKA_PRIVATE made explicit, so that reads and the store agree. */
static int complete_object(struct sim_object *obj)
{
	CK_ULONG klass = CKO_DATA;
	int private_default;

	object_ulong(obj, CKA_CLASS, &klass);
	private_default = klass == CKO_PRIVATE_KEY || klass == CKO_SECRET_KEY;
	if (set_default_bool(obj, CKA_TOKEN, 0) < 0 ||
	    set_default_bool(obj, CKA_PRIVATE, private_default) < 0 ||
	    set_default_bool(obj, CKA_MODIFIABLE, 1) < 0)
		return -1;
	return 0;
}

/*
 * Stores one or two new objects: token objects on the card (handles from the
 * store's counter), session objects in this process, which takes over their
 * attributes. All or nothing: the checks come before anything is stored.
 */
static CK_RV store_objects(struct session *s, struct sim_object *objs, size_t n,
                           CK_OBJECT_HANDLE *handles)
{
	struct sim_state *st = NULL;
	int token[2], any_token = 0;
	size_t i;
	CK_RV rv = CKR_OK;

	if (n > 2)
		return CKR_GENERAL_ERROR;
	for (i = 0; i < n; i++) {
		token[i] = object_bool(&objs[i], CKA_TOKEN, 0);
		if (object_bool(&objs[i], CKA_PRIVATE, 0) && g.login[s->slot] != CKU_USER)
			return CKR_USER_NOT_LOGGED_IN;
		if (token[i] && !(s->flags & CKF_RW_SESSION))
			return CKR_SESSION_READ_ONLY;
		any_token |= token[i];
	}
	if (any_token) {
		rv = edit_begin(&st);
		if (rv != CKR_OK)
			return rv;
		for (i = 0; i < n && rv == CKR_OK; i++) {
			if (!token[i])
				continue;
			objs[i].handle = st->next_handle++;
			if (card_add_object(&st->cards[s->slot], &objs[i]) < 0)
				rv = CKR_HOST_MEMORY;
		}
		if (rv == CKR_OK)
			rv = edit_end(st, 1);
		else
			store_abort();
		if (rv != CKR_OK) {
			state_free(st);
			return rv;
		}
		for (i = 0; i < n; i++) {
			if (token[i]) {
				sync_object(st, s->slot, objs[i].handle);
				handles[i] = objs[i].handle;
			}
		}
		state_free(st);
	}
	for (i = 0; i < n; i++) {
		void *mem;

		if (token[i])
			continue;
		mem = realloc(g.sobjs, (g.nsobjs + 1) * sizeof(*g.sobjs));
		if (!mem)
			return CKR_HOST_MEMORY;
		g.sobjs = mem;
		objs[i].handle = g.next_sobj++;
		handles[i] = objs[i].handle;
		g.sobjs[g.nsobjs].obj = objs[i];
		g.sobjs[g.nsobjs].owner = s->handle;
		g.sobjs[g.nsobjs].slot = s->slot;
		g.nsobjs++;
		/* The session object now owns the attributes. */
		memset(&objs[i], 0, sizeof(objs[i]));
	}
	return CKR_OK;
}

static CK_RV create_object(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
                           CK_OBJECT_HANDLE_PTR out)
{
	struct session *s = session_get(h);
	struct sim_object obj;
	CK_RV rv;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!out)
		return CKR_ARGUMENTS_BAD;
	rv = check_template(tmpl, n);
	if (rv != CKR_OK)
		return rv;
	memset(&obj, 0, sizeof(obj));
	if (apply_template(&obj, tmpl, n) < 0 || complete_object(&obj) < 0) {
		rv = CKR_HOST_MEMORY;
	} else if (!object_attr(&obj, CKA_CLASS)) {
		rv = CKR_TEMPLATE_INCOMPLETE;
	} else {
		rv = store_objects(s, &obj, 1, out);
	}
	object_free(&obj);
	return rv;
}

SIM_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
                                CK_OBJECT_HANDLE_PTR out)
{
	LOCKED(create_object(h, tmpl, n, out));
}

/* An object for reading: a session object of the slot or a token object of the view. */
static CK_RV find_readable(struct session *s, CK_OBJECT_HANDLE h, const struct sim_object **out)
{
	struct session_object *so = session_object(s->slot, h);
	struct sim_state *st;
	struct sim_object *obj;
	CK_RV rv;

	if (so) {
		if (!visible(s->slot, &so->obj))
			return CKR_OBJECT_HANDLE_INVALID;
		*out = &so->obj;
		return CKR_OK;
	}
	rv = view(&st);
	if (rv != CKR_OK)
		return rv;
	obj = card_object(&st->cards[s->slot], h);
	if (!obj || !visible(s->slot, obj))
		return CKR_OBJECT_HANDLE_INVALID;
	*out = obj;
	return CKR_OK;
}

static CK_RV copy_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE src, CK_ATTRIBUTE_PTR tmpl,
                         CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	struct session *s = session_get(h);
	const struct sim_object *orig;
	struct sim_object obj;
	CK_ULONG i;
	CK_RV rv;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!out)
		return CKR_ARGUMENTS_BAD;
	rv = check_template(tmpl, n);
	if (rv != CKR_OK)
		return rv;
	rv = find_readable(s, src, &orig);
	if (rv != CKR_OK)
		return rv;
	/* A second Card Eraser would make no sense; the card refuses. */
	if ((orig->flags & OBJ_ERASER) || !object_bool(orig, CKA_COPYABLE, 1))
		return CKR_ACTION_PROHIBITED;
	for (i = 0; i < n; i++) {
		if (tmpl[i].type == CKA_CLASS)
			return CKR_ATTRIBUTE_READ_ONLY;
	}
	if (object_copy(&obj, orig) < 0)
		return CKR_HOST_MEMORY;
	obj.flags = 0;
	if (apply_template(&obj, tmpl, n) < 0)
		rv = CKR_HOST_MEMORY;
	else
		rv = store_objects(s, &obj, 1, out);
	object_free(&obj);
	return rv;
}

SIM_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE src, CK_ATTRIBUTE_PTR tmpl,
                              CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	LOCKED(copy_object(h, src, tmpl, n, out));
}

/*
 * Destroying the native Card Eraser erases the card, as the card profile
 * (CPF) allows (the guide, "Card Eraser"):
 *  - anonymous: MakeCardEraseable() and BurnFuse(), or neither: works in
 *    any login state;
 *  - credential: works only with the operator PIN logged in ("there is a
 *    third credential (operator PIN), which Personal Desktop Client requires
 *    to delete the card"): CKU_SO on an operator-pin card, or
 *    CKU_PERSONAL_UNBLOCK on a puk card; else CKR_USER_NOT_LOGGED_IN;
 *  - never: BurnFuse() without MakeCardEraseable(): the card refuses the
 *    deletion, which the middleware reports as CKR_FUNCTION_FAILED, and
 *    nothing changes.
 * An erased card keeps its serial number and its Card Eraser (it stays
 * erasable, so tests can repeat); everything else is gone: objects, label,
 * PIN, PUK, operator PIN, CKF_TOKEN_INITIALIZED.
 */
static CK_RV erase_card(size_t idx, struct sim_card *card)
{
	const struct sim_card_conf *cc = conf_card(g.conf, idx);

	switch (cc->erase) {
	case ERASE_NEVER: return CKR_FUNCTION_FAILED;
	case ERASE_CREDENTIAL:
		if (login_secret(idx) != SECRET_OPIN)
			return CKR_USER_NOT_LOGGED_IN;
		break;
	case ERASE_ANONYMOUS: break;
	}
	card_clear_objects(card, 1);
	card->label[0] = '\0';
	card->initialized = 0;
	card_reset_secrets(card);
	return CKR_OK;
}

static CK_RV destroy_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh)
{
	struct session *s = session_get(h);
	struct session_object *so;
	struct sim_state *st;
	struct sim_object *obj;
	int changed = 0, erased = 0;
	CK_RV rv, rv2;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	so = session_object(s->slot, oh);
	if (so) {
		if (!visible(s->slot, &so->obj))
			return CKR_OBJECT_HANDLE_INVALID;
		if (!object_bool(&so->obj, CKA_DESTROYABLE, 1))
			return CKR_ACTION_PROHIBITED;
		remove_session_object(oh);
		return CKR_OK;
	}
	rv = edit_begin(&st);
	if (rv != CKR_OK)
		return rv;
	obj = card_object(&st->cards[s->slot], oh);
	if (!obj || !visible(s->slot, obj)) {
		rv = CKR_OBJECT_HANDLE_INVALID;
	} else if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
	} else if (obj->flags & OBJ_ERASER) {
		rv = erase_card(s->slot, &st->cards[s->slot]);
		changed = erased = rv == CKR_OK;
	} else if (!object_bool(obj, CKA_DESTROYABLE, 1)) {
		rv = CKR_ACTION_PROHIBITED;
	} else {
		card_remove_object(&st->cards[s->slot], oh);
		changed = 1;
	}
	rv2 = edit_end(st, changed);
	if (rv2 != CKR_OK) {
		rv = rv2;
	} else if (erased) {
		sync_card(st, s->slot, SYNC_CARD);
		/* No secret is left to be logged in with. */
		g.login[s->slot] = NOBODY;
	} else if (changed) {
		sync_object(st, s->slot, oh);
	}
	state_free(st);
	return rv;
}

SIM_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh)
{
	LOCKED(destroy_object(h, oh));
}

static CK_RV get_object_size(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ULONG_PTR size)
{
	struct session *s = session_get(h);
	const struct sim_object *obj;
	CK_ULONG total = 0;
	size_t i;
	CK_RV rv;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!size)
		return CKR_ARGUMENTS_BAD;
	rv = find_readable(s, oh, &obj);
	if (rv != CKR_OK)
		return rv;
	for (i = 0; i < obj->nattrs; i++)
		total += obj->attrs[i].len + 8;
	*size = total;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ULONG_PTR size)
{
	LOCKED(get_object_size(h, oh, size));
}

static int is_sensitive(const struct sim_object *obj, CK_ATTRIBUTE_TYPE t)
{
	CK_ULONG klass;

	if (object_ulong(obj, CKA_CLASS, &klass) < 0 ||
	    (klass != CKO_PRIVATE_KEY && klass != CKO_SECRET_KEY))
		return 0;
	if (!object_bool(obj, CKA_SENSITIVE, 0) && object_bool(obj, CKA_EXTRACTABLE, 1))
		return 0;
	switch (t) {
	case CKA_VALUE:
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT: return 1;
	default: return 0;
	}
}

/* PKCS#11 v2.40 section 5.7, C_GetAttributeValue, with the section 5.2 length convention. */
static CK_RV get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl,
                                 CK_ULONG n)
{
	struct session *s = session_get(h);
	const struct sim_object *obj;
	CK_ULONG i;
	CK_RV rv, ret = CKR_OK;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!tmpl && n)
		return CKR_ARGUMENTS_BAD;
	rv = find_readable(s, oh, &obj);
	if (rv != CKR_OK)
		return rv;
	for (i = 0; i < n; i++) {
		const struct sim_attr *a = object_attr(obj, tmpl[i].type);

		rv = CKR_OK;
		if (a && is_sensitive(obj, tmpl[i].type)) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_SENSITIVE;
		} else if (!a) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (!tmpl[i].pValue) {
			tmpl[i].ulValueLen = a->len;
		} else if (tmpl[i].ulValueLen >= a->len) {
			memcpy(tmpl[i].pValue, a->value, a->len);
			tmpl[i].ulValueLen = a->len;
		} else {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		}
		if (ret == CKR_OK)
			ret = rv;
	}
	return ret;
}

SIM_EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh,
                                     CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	LOCKED(get_attribute_value(h, oh, tmpl, n));
}

static CK_RV check_modify(const struct sim_object *obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	CK_ULONG i;

	/* The Card Eraser is CKA_MODIFIABLE false, like every native read-only object. */
	if ((obj->flags & OBJ_ERASER) || !object_bool(obj, CKA_MODIFIABLE, 1))
		return CKR_ACTION_PROHIBITED;
	for (i = 0; i < n; i++) {
		const struct sim_attr *a = object_attr(obj, tmpl[i].type);

		if (tmpl[i].type != CKA_CLASS && tmpl[i].type != CKA_TOKEN &&
		    tmpl[i].type != CKA_PRIVATE)
			continue;
		if (!a || a->len != tmpl[i].ulValueLen ||
		    memcmp(a->value, tmpl[i].pValue, a->len) != 0)
			return CKR_ATTRIBUTE_READ_ONLY;
	}
	return CKR_OK;
}

static CK_RV set_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl,
                                 CK_ULONG n)
{
	struct session *s = session_get(h);
	struct session_object *so;
	struct sim_state *st;
	struct sim_object *obj;
	int changed = 0;
	CK_RV rv, rv2;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	rv = check_template(tmpl, n);
	if (rv != CKR_OK)
		return rv;
	so = session_object(s->slot, oh);
	if (so) {
		if (!visible(s->slot, &so->obj))
			return CKR_OBJECT_HANDLE_INVALID;
		rv = check_modify(&so->obj, tmpl, n);
		if (rv == CKR_OK && apply_template(&so->obj, tmpl, n) < 0)
			rv = CKR_HOST_MEMORY;
		return rv;
	}
	rv = edit_begin(&st);
	if (rv != CKR_OK)
		return rv;
	obj = card_object(&st->cards[s->slot], oh);
	if (!obj || !visible(s->slot, obj))
		rv = CKR_OBJECT_HANDLE_INVALID;
	else if (!(s->flags & CKF_RW_SESSION))
		rv = CKR_SESSION_READ_ONLY;
	else
		rv = check_modify(obj, tmpl, n);
	if (rv == CKR_OK) {
		if (apply_template(obj, tmpl, n) < 0)
			rv = CKR_HOST_MEMORY;
		else
			changed = 1;
	}
	rv2 = edit_end(st, changed);
	if (rv2 != CKR_OK)
		rv = rv2;
	else if (changed)
		sync_object(st, s->slot, oh);
	state_free(st);
	return rv;
}

SIM_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh,
                                     CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	LOCKED(set_attribute_value(h, oh, tmpl, n));
}

static int matches(const struct sim_object *obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		const struct sim_attr *a = object_attr(obj, tmpl[i].type);

		if (!a || a->len != tmpl[i].ulValueLen ||
		    (a->len && memcmp(a->value, tmpl[i].pValue, a->len) != 0))
			return 0;
	}
	return 1;
}

static int add_found(struct session *s, CK_OBJECT_HANDLE h)
{
	void *mem = realloc(s->found, (s->nfound + 1) * sizeof(*s->found));

	if (!mem)
		return -1;
	s->found = mem;
	s->found[s->nfound++] = h;
	return 0;
}

/* The result is fixed at C_FindObjectsInit, from the view (cached or fresh). */
static CK_RV find_objects_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	struct session *s = session_get(h);
	struct sim_state *st;
	struct sim_card *card;
	size_t i;
	CK_RV rv;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (s->finding)
		return CKR_OPERATION_ACTIVE;
	if (!tmpl && n)
		return CKR_ARGUMENTS_BAD;
	rv = view(&st);
	if (rv != CKR_OK)
		return rv;
	card = &st->cards[s->slot];
	free(s->found);
	s->found = NULL;
	s->nfound = s->pos = 0;
	for (i = 0; i < card->nobjects; i++) {
		if (visible(s->slot, &card->objects[i]) && matches(&card->objects[i], tmpl, n) &&
		    add_found(s, card->objects[i].handle) < 0)
			return CKR_HOST_MEMORY;
	}
	for (i = 0; i < g.nsobjs; i++) {
		if (g.sobjs[i].slot == s->slot && visible(s->slot, &g.sobjs[i].obj) &&
		    matches(&g.sobjs[i].obj, tmpl, n) && add_found(s, g.sobjs[i].obj.handle) < 0)
			return CKR_HOST_MEMORY;
	}
	s->finding = 1;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	LOCKED(find_objects_init(h, tmpl, n));
}

static CK_RV find_objects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
                          CK_ULONG_PTR count)
{
	struct session *s = session_get(h);
	CK_ULONG n = 0;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (!count || (!out && max))
		return CKR_ARGUMENTS_BAD;
	while (n < max && s->pos < s->nfound)
		out[n++] = s->found[s->pos++];
	*count = n;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
                               CK_ULONG_PTR count)
{
	LOCKED(find_objects(h, out, max, count));
}

static CK_RV find_objects_final(CK_SESSION_HANDLE h)
{
	struct session *s = session_get(h);

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	free(s->found);
	s->found = NULL;
	s->nfound = s->pos = 0;
	s->finding = 0;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	LOCKED(find_objects_final(h));
}

/* ---- placeholder keys and signatures: policies, not cryptography (issue 3) ---- */

/* Field size in bytes of the named curves pkcs11-tool offers, from the DER OID. */
static size_t curve_field(const struct sim_attr *params)
{
	static const struct {
		unsigned char oid[12];
		size_t len, field;
	} curves[] = {
		{ { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 }, 10, 32 }, /* P-256 */
		{ { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 }, 7, 48 }, /* P-384 */
		{ { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 }, 7, 66 }, /* P-521 */
		{ { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a }, 7, 32 }, /* secp256k1 */
	};
	size_t i;

	for (i = 0; params && i < sizeof(curves) / sizeof(curves[0]); i++) {
		if (params->len == curves[i].len &&
		    memcmp(params->value, curves[i].oid, curves[i].len) == 0)
			return curves[i].field;
	}
	return 0;
}

static CK_RV make_ec(struct sim_object *pub, struct sim_object *priv)
{
	unsigned char point[3 + 1 + 2 * 66], value[66];
	const struct sim_attr *params = object_attr(pub, CKA_EC_PARAMS);
	size_t field, plen, hdr;
	CK_KEY_TYPE kt = CKK_EC;

	if (!params)
		return CKR_TEMPLATE_INCOMPLETE;
	field = curve_field(params);
	if (!field)
		return CKR_CURVE_NOT_SUPPORTED;
	/* CKA_EC_POINT: DER OCTET STRING of an uncompressed point 04 || X || Y. */
	plen = 1 + 2 * field;
	point[0] = 0x04;
	if (plen < 128) {
		point[1] = (unsigned char)plen;
		hdr = 2;
	} else {
		point[1] = 0x81;
		point[2] = (unsigned char)plen;
		hdr = 3;
	}
	point[hdr] = 0x04;
	rng_fill(point + hdr + 1, 2 * field);
	rng_fill(value, field);
	/* params points into pub's attributes: use it before pub grows. */
	if (set_default(priv, CKA_EC_PARAMS, params->value, params->len) < 0 ||
	    object_set(priv, CKA_KEY_TYPE, &kt, sizeof(kt)) < 0 ||
	    object_set(priv, CKA_VALUE, value, field) < 0 ||
	    object_set(pub, CKA_EC_POINT, point, hdr + plen) < 0 ||
	    object_set(pub, CKA_KEY_TYPE, &kt, sizeof(kt)) < 0)
		return CKR_HOST_MEMORY;
	return CKR_OK;
}

static CK_RV make_rsa(struct sim_object *pub, struct sim_object *priv)
{
	static const unsigned char f4[] = { 0x01, 0x00, 0x01 };
	unsigned char modulus[512], exponent[512];
	const struct sim_attr *e;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_ULONG bits;
	size_t len;

	if (object_ulong(pub, CKA_MODULUS_BITS, &bits) < 0)
		return CKR_TEMPLATE_INCOMPLETE;
	len = (size_t)(bits / 8);
	if (bits % 8 || len < 128 || len > sizeof(modulus))
		return CKR_KEY_SIZE_RANGE;
	if (set_default(pub, CKA_PUBLIC_EXPONENT, f4, sizeof(f4)) < 0)
		return CKR_HOST_MEMORY;
	e = object_attr(pub, CKA_PUBLIC_EXPONENT);
	rng_fill(modulus, len);
	modulus[0] |= 0x80;
	modulus[len - 1] |= 0x01;
	rng_fill(exponent, len);
	exponent[0] &= 0x7f;
	/* e points into pub's attributes: use it before pub grows. */
	if (object_set(priv, CKA_PUBLIC_EXPONENT, e->value, e->len) < 0 ||
	    object_set(priv, CKA_KEY_TYPE, &kt, sizeof(kt)) < 0 ||
	    object_set(priv, CKA_MODULUS, modulus, len) < 0 ||
	    object_set(priv, CKA_PRIVATE_EXPONENT, exponent, len) < 0 ||
	    object_set(pub, CKA_MODULUS, modulus, len) < 0 ||
	    object_set(pub, CKA_KEY_TYPE, &kt, sizeof(kt)) < 0)
		return CKR_HOST_MEMORY;
	return CKR_OK;
}

static CK_RV generate_key_pair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pubt,
                               CK_ULONG npub, CK_ATTRIBUTE_PTR privt, CK_ULONG npriv,
                               CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	struct session *s = session_get(h);
	struct sim_object objs[2];
	CK_OBJECT_HANDLE handles[2];
	CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY, priv_class = CKO_PRIVATE_KEY;
	CK_MECHANISM_TYPE mt;
	CK_RV rv;
	int sensitive, extractable;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!mech || !hpub || !hpriv)
		return CKR_ARGUMENTS_BAD;
	rv = check_template(pubt, npub);
	if (rv == CKR_OK)
		rv = check_template(privt, npriv);
	if (rv != CKR_OK)
		return rv;
	mt = mech->mechanism;
	if (mt != CKM_EC_KEY_PAIR_GEN && mt != CKM_RSA_PKCS_KEY_PAIR_GEN)
		return CKR_MECHANISM_INVALID;

	memset(objs, 0, sizeof(objs));
	if (apply_template(&objs[0], pubt, npub) < 0 || apply_template(&objs[1], privt, npriv) < 0 ||
	    object_set(&objs[0], CKA_CLASS, &pub_class, sizeof(pub_class)) < 0 ||
	    object_set(&objs[1], CKA_CLASS, &priv_class, sizeof(priv_class)) < 0 ||
	    set_default_bool(&objs[0], CKA_VERIFY, 1) < 0 ||
	    set_default_bool(&objs[1], CKA_SIGN, 1) < 0 ||
	    set_default_bool(&objs[1], CKA_SENSITIVE, 1) < 0 ||
	    set_default_bool(&objs[1], CKA_EXTRACTABLE, 0) < 0 || complete_object(&objs[0]) < 0 ||
	    complete_object(&objs[1]) < 0 || set_default_bool(&objs[0], CKA_LOCAL, 1) < 0 ||
	    set_default_bool(&objs[1], CKA_LOCAL, 1) < 0 ||
	    object_set(&objs[0], CKA_KEY_GEN_MECHANISM, &mt, sizeof(mt)) < 0 ||
	    object_set(&objs[1], CKA_KEY_GEN_MECHANISM, &mt, sizeof(mt)) < 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	/* Explicit usage flags, so that clients such as pkcs11-tool find them all. */
	if (set_default_bool(&objs[0], CKA_ENCRYPT, 0) < 0 ||
	    set_default_bool(&objs[0], CKA_WRAP, 0) < 0 ||
	    set_default_bool(&objs[0], CKA_DERIVE, 0) < 0 ||
	    set_default_bool(&objs[0], CKA_VERIFY_RECOVER, 0) < 0 ||
	    set_default_bool(&objs[1], CKA_DECRYPT, 0) < 0 ||
	    set_default_bool(&objs[1], CKA_UNWRAP, 0) < 0 ||
	    set_default_bool(&objs[1], CKA_DERIVE, 0) < 0 ||
	    set_default_bool(&objs[1], CKA_SIGN_RECOVER, 0) < 0 ||
	    set_default_bool(&objs[1], CKA_ALWAYS_AUTHENTICATE, 0) < 0 ||
	    set_default(&objs[0], CKA_LABEL, "", 0) < 0 ||
	    set_default(&objs[1], CKA_LABEL, "", 0) < 0 ||
	    set_default(&objs[0], CKA_ID, "", 0) < 0 || set_default(&objs[1], CKA_ID, "", 0) < 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	sensitive = object_bool(&objs[1], CKA_SENSITIVE, 1);
	extractable = object_bool(&objs[1], CKA_EXTRACTABLE, 0);
	if (set_default_bool(&objs[1], CKA_ALWAYS_SENSITIVE, sensitive) < 0 ||
	    set_default_bool(&objs[1], CKA_NEVER_EXTRACTABLE, !extractable) < 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = mt == CKM_EC_KEY_PAIR_GEN ? make_ec(&objs[0], &objs[1]) : make_rsa(&objs[0], &objs[1]);
	if (rv == CKR_OK)
		rv = store_objects(s, objs, 2, handles);
	if (rv == CKR_OK) {
		*hpub = handles[0];
		*hpriv = handles[1];
	}
out:
	object_free(&objs[0]);
	object_free(&objs[1]);
	return rv;
}

SIM_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pubt,
                                   CK_ULONG npub, CK_ATTRIBUTE_PTR privt, CK_ULONG npriv,
                                   CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	LOCKED(generate_key_pair(h, mech, pubt, npub, privt, npriv, hpub, hpriv));
}

static CK_RV sign_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	struct session *s = session_get(h);
	const struct sim_object *obj;
	CK_ULONG klass, kt;
	const struct sim_attr *a;
	CK_RV rv;

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!mech)
		return CKR_ARGUMENTS_BAD;
	if (s->signing)
		return CKR_OPERATION_ACTIVE;
	if (mech->mechanism != CKM_RSA_PKCS && mech->mechanism != CKM_ECDSA)
		return CKR_MECHANISM_INVALID;
	rv = find_readable(s, key, &obj);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		return rv;
	if (object_ulong(obj, CKA_CLASS, &klass) < 0 || klass != CKO_PRIVATE_KEY ||
	    object_ulong(obj, CKA_KEY_TYPE, &kt) < 0)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (!object_bool(obj, CKA_SIGN, 0))
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (mech->mechanism == CKM_RSA_PKCS) {
		a = object_attr(obj, CKA_MODULUS);
		if (kt != CKK_RSA || !a)
			return CKR_KEY_TYPE_INCONSISTENT;
		s->sign_len = a->len;
	} else {
		size_t field = curve_field(object_attr(obj, CKA_EC_PARAMS));

		if (kt != CKK_EC || !field)
			return CKR_KEY_TYPE_INCONSISTENT;
		s->sign_len = 2 * field;
	}
	s->signing = 1;
	s->sign_mech = mech->mechanism;
	s->sign_key = key;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	LOCKED(sign_init(h, mech, key));
}

/* Deterministic bytes from key handle and data (FNV-1a 64 in counter mode). */
static void placeholder_signature(CK_OBJECT_HANDLE key, const unsigned char *data, CK_ULONG len,
                                  unsigned char *out, CK_ULONG outlen)
{
	CK_ULONG i, block;
	int b;

	for (block = 0; block * 8 < outlen; block++) {
		uint64_t hash = 0xcbf29ce484222325ULL;
		uint64_t seed[2] = { (uint64_t)key, (uint64_t)block };
		const unsigned char *sp = (const unsigned char *)seed;

		for (i = 0; i < sizeof(seed); i++)
			hash = (hash ^ sp[i]) * 0x100000001b3ULL;
		for (i = 0; i < len; i++)
			hash = (hash ^ data[i]) * 0x100000001b3ULL;
		for (b = 0; b < 8 && block * 8 + (CK_ULONG)b < outlen; b++)
			out[block * 8 + (CK_ULONG)b] = (unsigned char)(hash >> (8 * b));
	}
}

static CK_RV sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                  CK_ULONG_PTR siglen)
{
	struct session *s = session_get(h);

	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!s->signing)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (!siglen || (!data && len)) {
		s->signing = 0;
		return CKR_ARGUMENTS_BAD;
	}
	/* PKCS #1 v1.5 padding needs 11 bytes (PKCS#11 v2.40 mechanisms, 2.1.6). */
	if (s->sign_mech == CKM_RSA_PKCS && len + 11 > s->sign_len) {
		s->signing = 0;
		return CKR_DATA_LEN_RANGE;
	}
	/* Section 5.2: a length query or a short buffer keeps the operation active. */
	if (!sig) {
		*siglen = s->sign_len;
		return CKR_OK;
	}
	if (*siglen < s->sign_len) {
		*siglen = s->sign_len;
		return CKR_BUFFER_TOO_SMALL;
	}
	placeholder_signature(s->sign_key, data, len, sig, s->sign_len);
	*siglen = s->sign_len;
	s->signing = 0;
	return CKR_OK;
}

SIM_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                        CK_ULONG_PTR siglen)
{
	LOCKED(sign(h, data, len, sig, siglen));
}

static CK_RV generate_random(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	if (!session_get(h))
		return CKR_SESSION_HANDLE_INVALID;
	if (!out && len)
		return CKR_ARGUMENTS_BAD;
	rng_fill(out, len);
	return CKR_OK;
}

SIM_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	LOCKED(generate_random(h, out, len));
}

/* ---- not supported: present in the list, as every v2.40 function must be ---- */

#define NOT_SUPPORTED(name, args)                  \
	SIM_EXPORT CK_RV name args                 \
	{                                          \
		return CKR_FUNCTION_NOT_SUPPORTED; \
	}

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
NOT_SUPPORTED(C_WaitForSlotEvent, (CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r))
NOT_SUPPORTED(C_GetOperationState, (CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG_PTR l))
NOT_SUPPORTED(C_SetOperationState, (CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG l,
                                    CK_OBJECT_HANDLE e, CK_OBJECT_HANDLE a))
NOT_SUPPORTED(C_EncryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_Encrypt,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_EncryptUpdate,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_EncryptFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_DecryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_Decrypt,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_DecryptUpdate,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_DecryptFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_DigestInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m))
NOT_SUPPORTED(C_Digest,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_DigestUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l))
NOT_SUPPORTED(C_DigestKey, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_DigestFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR ol))
/* CKM_RSA_PKCS and CKM_ECDSA are single-part mechanisms. */
NOT_SUPPORTED(C_SignUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l))
NOT_SUPPORTED(C_SignFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_SignRecoverInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_SignRecover,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_VerifyInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_Verify, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG sl))
NOT_SUPPORTED(C_VerifyUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l))
NOT_SUPPORTED(C_VerifyFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sl))
NOT_SUPPORTED(C_VerifyRecoverInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k))
NOT_SUPPORTED(C_VerifyRecover,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sl, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_DigestEncryptUpdate,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_DecryptDigestUpdate,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_SignEncryptUpdate,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_DecryptVerifyUpdate,
              (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_GenerateKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t,
                              CK_ULONG n, CK_OBJECT_HANDLE_PTR k))
NOT_SUPPORTED(C_WrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w,
                          CK_OBJECT_HANDLE k, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NOT_SUPPORTED(C_UnwrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u, CK_BYTE_PTR w,
                            CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k))
NOT_SUPPORTED(C_DeriveKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE b,
                            CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k))
NOT_SUPPORTED(C_SeedRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG l))

/* Legacy functions: v2.40 section 5.16 prescribes CKR_FUNCTION_NOT_PARALLEL. */
SIM_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}

SIM_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE h)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static CK_FUNCTION_LIST function_list = {
	.version = { CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
	.C_Initialize = C_Initialize,
	.C_Finalize = C_Finalize,
	.C_GetInfo = C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = C_GetSlotList,
	.C_GetSlotInfo = C_GetSlotInfo,
	.C_GetTokenInfo = C_GetTokenInfo,
	.C_GetMechanismList = C_GetMechanismList,
	.C_GetMechanismInfo = C_GetMechanismInfo,
	.C_InitToken = C_InitToken,
	.C_InitPIN = C_InitPIN,
	.C_SetPIN = C_SetPIN,
	.C_OpenSession = C_OpenSession,
	.C_CloseSession = C_CloseSession,
	.C_CloseAllSessions = C_CloseAllSessions,
	.C_GetSessionInfo = C_GetSessionInfo,
	.C_GetOperationState = C_GetOperationState,
	.C_SetOperationState = C_SetOperationState,
	.C_Login = C_Login,
	.C_Logout = C_Logout,
	.C_CreateObject = C_CreateObject,
	.C_CopyObject = C_CopyObject,
	.C_DestroyObject = C_DestroyObject,
	.C_GetObjectSize = C_GetObjectSize,
	.C_GetAttributeValue = C_GetAttributeValue,
	.C_SetAttributeValue = C_SetAttributeValue,
	.C_FindObjectsInit = C_FindObjectsInit,
	.C_FindObjects = C_FindObjects,
	.C_FindObjectsFinal = C_FindObjectsFinal,
	.C_EncryptInit = C_EncryptInit,
	.C_Encrypt = C_Encrypt,
	.C_EncryptUpdate = C_EncryptUpdate,
	.C_EncryptFinal = C_EncryptFinal,
	.C_DecryptInit = C_DecryptInit,
	.C_Decrypt = C_Decrypt,
	.C_DecryptUpdate = C_DecryptUpdate,
	.C_DecryptFinal = C_DecryptFinal,
	.C_DigestInit = C_DigestInit,
	.C_Digest = C_Digest,
	.C_DigestUpdate = C_DigestUpdate,
	.C_DigestKey = C_DigestKey,
	.C_DigestFinal = C_DigestFinal,
	.C_SignInit = C_SignInit,
	.C_Sign = C_Sign,
	.C_SignUpdate = C_SignUpdate,
	.C_SignFinal = C_SignFinal,
	.C_SignRecoverInit = C_SignRecoverInit,
	.C_SignRecover = C_SignRecover,
	.C_VerifyInit = C_VerifyInit,
	.C_Verify = C_Verify,
	.C_VerifyUpdate = C_VerifyUpdate,
	.C_VerifyFinal = C_VerifyFinal,
	.C_VerifyRecoverInit = C_VerifyRecoverInit,
	.C_VerifyRecover = C_VerifyRecover,
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
	.C_GenerateKey = C_GenerateKey,
	.C_GenerateKeyPair = C_GenerateKeyPair,
	.C_WrapKey = C_WrapKey,
	.C_UnwrapKey = C_UnwrapKey,
	.C_DeriveKey = C_DeriveKey,
	.C_SeedRandom = C_SeedRandom,
	.C_GenerateRandom = C_GenerateRandom,
	.C_GetFunctionStatus = C_GetFunctionStatus,
	.C_CancelFunction = C_CancelFunction,
	.C_WaitForSlotEvent = C_WaitForSlotEvent,
};

SIM_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (!list)
		return CKR_ARGUMENTS_BAD;
	*list = &function_list;
	return CKR_OK;
}
