/*
 * personal-sim: the card state, in memory or in the file named by
 * PERSONAL_SIM_STATE, so that several processes see one set of cards
 * (issue 3). The file format is in README.md.
 *
 * Every change is written to a temporary file that then replaces the state
 * file, so a reader sees either the old or the new state, never half of one.
 * Readers and writers serialize on a lock file beside the state file (the
 * state file itself cannot carry the lock: each rename gives it a new inode).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#endif

/*
 * ---- OS specifics ----
 * Everything that differs between POSIX and Windows is in these few
 * functions: process id, the module mutex, the cross-process file lock and
 * the atomic replace.
 */

#ifdef _WIN32

typedef HANDLE os_file;
#define OS_NO_FILE INVALID_HANDLE_VALUE

static SRWLOCK module_lock = SRWLOCK_INIT;

long sim_getpid(void)
{
	return (long)GetCurrentProcessId();
}

void sim_mutex_lock(void)
{
	AcquireSRWLockExclusive(&module_lock);
}

void sim_mutex_unlock(void)
{
	ReleaseSRWLockExclusive(&module_lock);
}

static os_file os_lock_open(const char *path)
{
	return CreateFileA(path, GENERIC_READ | GENERIC_WRITE,
	                   FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
	                   OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
}

static int os_lock(os_file f, int exclusive)
{
	OVERLAPPED ov;

	memset(&ov, 0, sizeof(ov));
	return LockFileEx(f, exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0, 0, 1, 0, &ov) ? 0 : -1;
}

static void os_unlock(os_file f)
{
	OVERLAPPED ov;

	memset(&ov, 0, sizeof(ov));
	UnlockFileEx(f, 0, 1, 0, &ov);
}

static void os_lock_close(os_file f)
{
	CloseHandle(f);
}

/* MoveFileEx replaces an existing target, which rename() on Windows refuses. */
static int os_replace(const char *from, const char *to)
{
	return MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) ? 0 : -1;
}

#else /* POSIX */

typedef int os_file;
#define OS_NO_FILE (-1)

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;

long sim_getpid(void)
{
	return (long)getpid();
}

/*
 * A forked child inherits the lock in whatever state a parent thread left
 * it (held, if that thread was inside a call): the child's first call makes
 * it anew, as it has only one thread then. Personal's own behaviour after
 * fork is unknown; a deadlock here would only hide the shim's behaviour.
 */
static pid_t module_lock_pid;

void sim_mutex_lock(void)
{
	pid_t pid = getpid();

	if (module_lock_pid != pid) {
		if (module_lock_pid != 0)
			pthread_mutex_init(&module_lock, NULL);
		module_lock_pid = pid;
	}
	pthread_mutex_lock(&module_lock);
}

void sim_mutex_unlock(void)
{
	pthread_mutex_unlock(&module_lock);
}

static os_file os_lock_open(const char *path)
{
	return open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
}

/*
 * fcntl locks are per process, so threads of one process are kept apart by
 * the module mutex, which every entry point holds for the whole call.
 */
static int os_lock(os_file fd, int exclusive)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLKW, &fl) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static void os_unlock(os_file fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fcntl(fd, F_SETLK, &fl);
}

static void os_lock_close(os_file fd)
{
	close(fd);
}

static int os_replace(const char *from, const char *to)
{
	return rename(from, to);
}

#endif /* POSIX */

/* ---- objects and cards ---- */

void object_free(struct sim_object *obj)
{
	size_t i;

	if (!obj)
		return;
	for (i = 0; i < obj->nattrs; i++) {
		if (obj->attrs[i].value)
			memset(obj->attrs[i].value, 0, obj->attrs[i].len);
		free(obj->attrs[i].value);
	}
	free(obj->attrs);
	obj->attrs = NULL;
	obj->nattrs = 0;
}

int object_copy(struct sim_object *dst, const struct sim_object *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->handle = src->handle;
	dst->flags = src->flags;
	for (i = 0; i < src->nattrs; i++) {
		if (object_set(dst, src->attrs[i].type, src->attrs[i].value, src->attrs[i].len) < 0) {
			object_free(dst);
			return -1;
		}
	}
	return 0;
}

struct sim_attr *object_attr(const struct sim_object *obj, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < obj->nattrs; i++) {
		if (obj->attrs[i].type == type)
			return &obj->attrs[i];
	}
	return NULL;
}

int object_set(struct sim_object *obj, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len)
{
	struct sim_attr *a = object_attr(obj, type);
	unsigned char *copy;

	/* One extra byte so that a zero-length value still has a buffer. */
	copy = malloc(len + 1);
	if (!copy)
		return -1;
	if (len)
		memcpy(copy, value, len);
	if (!a) {
		void *mem = realloc(obj->attrs, (obj->nattrs + 1) * sizeof(*obj->attrs));

		if (!mem) {
			free(copy);
			return -1;
		}
		obj->attrs = mem;
		a = &obj->attrs[obj->nattrs++];
	} else {
		free(a->value);
	}
	a->type = type;
	a->len = len;
	a->value = copy;
	return 0;
}

int object_bool(const struct sim_object *obj, CK_ATTRIBUTE_TYPE type, int dflt)
{
	const struct sim_attr *a = object_attr(obj, type);

	if (!a || a->len != sizeof(CK_BBOOL))
		return dflt;
	return a->value[0] != CK_FALSE;
}

int object_ulong(const struct sim_object *obj, CK_ATTRIBUTE_TYPE type, CK_ULONG *out)
{
	const struct sim_attr *a = object_attr(obj, type);

	if (!a || a->len != sizeof(CK_ULONG))
		return -1;
	memcpy(out, a->value, sizeof(CK_ULONG));
	return 0;
}

struct sim_object *card_object(struct sim_card *card, CK_OBJECT_HANDLE handle)
{
	size_t i;

	for (i = 0; i < card->nobjects; i++) {
		if (card->objects[i].handle == handle)
			return &card->objects[i];
	}
	return NULL;
}

int card_add_object(struct sim_card *card, const struct sim_object *obj)
{
	void *mem = realloc(card->objects, (card->nobjects + 1) * sizeof(*card->objects));

	if (!mem)
		return -1;
	card->objects = mem;
	if (object_copy(&card->objects[card->nobjects], obj) < 0)
		return -1;
	card->nobjects++;
	return 0;
}

void card_remove_object(struct sim_card *card, CK_OBJECT_HANDLE handle)
{
	size_t i;

	for (i = 0; i < card->nobjects; i++) {
		if (card->objects[i].handle == handle) {
			object_free(&card->objects[i]);
			memmove(&card->objects[i], &card->objects[i + 1],
			        (card->nobjects - i - 1) * sizeof(*card->objects));
			card->nobjects--;
			return;
		}
	}
}

void card_clear_objects(struct sim_card *card, int keep_eraser)
{
	size_t i, kept = 0;

	for (i = 0; i < card->nobjects; i++) {
		if (keep_eraser && (card->objects[i].flags & OBJ_ERASER))
			card->objects[kept++] = card->objects[i];
		else
			object_free(&card->objects[i]);
	}
	card->nobjects = kept;
	if (kept == 0) {
		free(card->objects);
		card->objects = NULL;
	}
}

void card_reset_secrets(struct sim_card *card)
{
	int i;

	for (i = 0; i < SECRET_COUNT; i++) {
		memset(&card->secret[i], 0, sizeof(card->secret[i]));
		card->secret[i].tries = SIM_MAX_TRIES;
	}
}

int card_copy(struct sim_card *dst, const struct sim_card *src)
{
	size_t i;

	card_clear_objects(dst, 0);
	*dst = *src;
	dst->objects = NULL;
	dst->nobjects = 0;
	for (i = 0; i < src->nobjects; i++) {
		if (card_add_object(dst, &src->objects[i]) < 0)
			return -1;
	}
	return 0;
}

void state_free(struct sim_state *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->ncards; i++) {
		card_clear_objects(&st->cards[i], 0);
		memset(st->cards[i].secret, 0, sizeof(st->cards[i].secret));
	}
	free(st->cards);
	free(st);
}

static struct sim_state *state_new(size_t ncards)
{
	struct sim_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->cards = calloc(ncards ? ncards : 1, sizeof(*st->cards));
	if (!st->cards) {
		free(st);
		return NULL;
	}
	st->ncards = ncards;
	st->next_handle = SIM_FIRST_TOKEN_HANDLE;
	return st;
}

static struct sim_state *state_clone(const struct sim_state *src)
{
	struct sim_state *st = state_new(src->ncards);
	size_t i;

	if (!st)
		return NULL;
	st->generation = src->generation;
	st->next_handle = src->next_handle;
	for (i = 0; i < src->ncards; i++) {
		if (card_copy(&st->cards[i], &src->cards[i]) < 0) {
			state_free(st);
			return NULL;
		}
	}
	return st;
}

/*
 * The native Card Eraser of CardOS cards (the guide: "a virtual object called
 * 'Card Eraser' available on certain cards (for example, CardOS 4.4, 5.x,
 * certain Gemalto cards...)"). The attributes are those issue 4's shim
 * must recognise as native.
 */
static int add_card_eraser(struct sim_state *st, struct sim_card *card)
{
	static const char label[] = "Card Eraser";
	static const char app[] = "Personal";
	CK_OBJECT_CLASS klass = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	struct sim_object obj;
	int ret;

	memset(&obj, 0, sizeof(obj));
	obj.handle = st->next_handle++;
	obj.flags = OBJ_ERASER;
	ret = object_set(&obj, CKA_CLASS, &klass, sizeof(klass)) |
	      object_set(&obj, CKA_TOKEN, &yes, sizeof(yes)) |
	      object_set(&obj, CKA_PRIVATE, &no, sizeof(no)) |
	      object_set(&obj, CKA_MODIFIABLE, &no, sizeof(no)) |
	      object_set(&obj, CKA_LABEL, label, sizeof(label) - 1) |
	      object_set(&obj, CKA_APPLICATION, app, sizeof(app) - 1) |
	      object_set(&obj, CKA_VALUE, "", 0);
	if (ret == 0)
		ret = card_add_object(card, &obj);
	object_free(&obj);
	return ret;
}

static struct sim_state *state_from_conf(const struct sim_conf *conf)
{
	struct sim_state *st = state_new(conf->nreaders);
	size_t i;
	int s;

	if (!st)
		return NULL;
	for (i = 0; i < conf->nreaders; i++) {
		const struct sim_card_conf *cc = conf_card(conf, i);
		struct sim_card *card = &st->cards[i];

		if (!cc)
			continue;
		card->present = 1;
		strcpy(card->label, cc->label);
		strcpy(card->serial, cc->serial);
		card->initialized = 1;
		for (s = 0; s < SECRET_COUNT; s++) {
			card->secret[s].set = 1;
			card->secret[s].tries = SIM_MAX_TRIES;
			card->secret[s].len = cc->secret_len[s];
			memcpy(card->secret[s].value, cc->secret[s], cc->secret_len[s]);
		}
		if (conf_is_cardos(cc) && add_card_eraser(st, card) < 0) {
			state_free(st);
			return NULL;
		}
	}
	return st;
}

/* ---- the state file's text format (README.md, "State file") ---- */

static const char *const secret_names[SECRET_COUNT] = { "pin", "puk", "operator-pin" };

static void put_hex(FILE *f, const unsigned char *v, size_t n)
{
	size_t i;

	if (n == 0) {
		fputc('-', f);
		return;
	}
	for (i = 0; i < n; i++)
		fprintf(f, "%02x", v[i]);
}

static int state_write(FILE *f, const struct sim_conf *conf, const struct sim_state *st)
{
	size_t i, j, k;
	int s;

	fprintf(f, "personal-sim-state 1\n");
	fprintf(f, "generation %lu\n", st->generation);
	fprintf(f, "next-handle %lu\n", (unsigned long)st->next_handle);
	for (i = 0; i < st->ncards; i++) {
		const struct sim_card_conf *cc = conf_card(conf, i);
		const struct sim_card *card = &st->cards[i];

		fprintf(f, "reader %lu %s\n", conf->readers[i].number, cc ? cc->name : "-");
		if (!cc)
			continue;
		fputs("label ", f);
		put_hex(f, (const unsigned char *)card->label, strlen(card->label));
		fputs("\nserial ", f);
		put_hex(f, (const unsigned char *)card->serial, strlen(card->serial));
		fprintf(f, "\ninitialized %d\n", card->initialized);
		for (s = 0; s < SECRET_COUNT; s++) {
			fprintf(f, "secret %s %d ", secret_names[s], card->secret[s].tries);
			put_hex(f, card->secret[s].value,
			        card->secret[s].set ? card->secret[s].len : 0);
			fputc('\n', f);
		}
		for (j = 0; j < card->nobjects; j++) {
			const struct sim_object *obj = &card->objects[j];

			fprintf(f, "object %lu %u\n", (unsigned long)obj->handle, obj->flags);
			for (k = 0; k < obj->nattrs; k++) {
				fprintf(f, "attr %lx ", (unsigned long)obj->attrs[k].type);
				put_hex(f, obj->attrs[k].value, obj->attrs[k].len);
				fputc('\n', f);
			}
		}
	}
	fprintf(f, "end\n");
	return ferror(f) ? -1 : 0;
}

/* Next space-separated word of *p, NUL-terminated in place. */
static char *next_word(char **p)
{
	char *w = *p, *end;

	while (*w == ' ')
		w++;
	if (*w == '\0')
		return NULL;
	end = w;
	while (*end && *end != ' ')
		end++;
	if (*end)
		*end++ = '\0';
	*p = end;
	return w;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex ("-" is empty) into a new buffer; *len gets the byte count. */
static unsigned char *get_hex(const char *w, size_t *len)
{
	size_t n, i;
	unsigned char *out;

	if (!w)
		return NULL;
	if (strcmp(w, "-") == 0)
		w = "";
	n = strlen(w);
	if (n % 2)
		return NULL;
	out = malloc(n / 2 + 1);
	if (!out)
		return NULL;
	for (i = 0; i < n / 2; i++) {
		int hi = hex_value(w[2 * i]), lo = hex_value(w[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	out[n / 2] = '\0';
	*len = n / 2;
	return out;
}

static int get_hex_string(const char *w, char *dst, size_t size)
{
	size_t len;
	unsigned char *v = get_hex(w, &len);

	if (!v || len >= size || memchr(v, '\0', len)) {
		free(v);
		return -1;
	}
	memcpy(dst, v, len + 1);
	free(v);
	return 0;
}

static int get_ulong(const char *w, int base, unsigned long *out)
{
	char *end;

	if (!w || !*w)
		return -1;
	errno = 0;
	*out = strtoul(w, &end, base);
	return (errno || *end) ? -1 : 0;
}

/*
 * Parses the text of a state file. *mismatch is set when the file is valid
 * but was written for another reader/card list than conf describes.
 */
static struct sim_state *state_parse(char *text, const struct sim_conf *conf, int *errline,
                                     int *mismatch)
{
	struct sim_state *st = state_new(conf->nreaders);
	struct sim_card *card = NULL;
	struct sim_object *obj = NULL;
	unsigned char *seen = calloc(conf->nreaders + 1, 1);
	char *line = text, *next;
	int lineno = 0, ended = 0;
	size_t i;

	*mismatch = 0;
	if (!st || !seen)
		goto fail;

	for (; line && *line; line = next) {
		char *p, *w;
		unsigned long u;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		p = line;
		if (*p && p[strlen(p) - 1] == '\r')
			p[strlen(p) - 1] = '\0';
		w = next_word(&p);
		if (!w)
			continue;
		if (ended)
			goto fail;

		if (lineno == 1) {
			if (strcmp(w, "personal-sim-state") != 0 || !(w = next_word(&p)) ||
			    strcmp(w, "1") != 0)
				goto fail;
		} else if (strcmp(w, "generation") == 0) {
			if (get_ulong(next_word(&p), 10, &st->generation) < 0)
				goto fail;
		} else if (strcmp(w, "next-handle") == 0) {
			if (get_ulong(next_word(&p), 10, &u) < 0)
				goto fail;
			st->next_handle = u;
		} else if (strcmp(w, "reader") == 0) {
			const struct sim_card_conf *cc;
			const char *name;

			if (get_ulong(next_word(&p), 10, &u) < 0)
				goto fail;
			while (*p == ' ')
				p++;
			name = p;
			for (i = 0; i < conf->nreaders; i++) {
				if (conf->readers[i].number == u)
					break;
			}
			if (i == conf->nreaders || seen[i]) {
				*mismatch = 1;
				goto fail;
			}
			seen[i] = 1;
			cc = conf_card(conf, i);
			if (strcmp(name, cc ? cc->name : "-") != 0) {
				*mismatch = 1;
				goto fail;
			}
			card = cc ? &st->cards[i] : NULL;
			if (card)
				card->present = 1;
			obj = NULL;
		} else if (!card) {
			if (strcmp(w, "end") != 0)
				goto fail;
			ended = 1;
		} else if (strcmp(w, "label") == 0) {
			if (get_hex_string(next_word(&p), card->label, sizeof(card->label)) < 0)
				goto fail;
		} else if (strcmp(w, "serial") == 0) {
			if (get_hex_string(next_word(&p), card->serial, sizeof(card->serial)) < 0)
				goto fail;
		} else if (strcmp(w, "initialized") == 0) {
			if (get_ulong(next_word(&p), 10, &u) < 0)
				goto fail;
			card->initialized = u != 0;
		} else if (strcmp(w, "secret") == 0) {
			unsigned char *v;
			size_t len;
			int s;

			w = next_word(&p);
			for (s = 0; s < SECRET_COUNT; s++) {
				if (w && strcmp(w, secret_names[s]) == 0)
					break;
			}
			if (s == SECRET_COUNT || get_ulong(next_word(&p), 10, &u) < 0 ||
			    u > SIM_MAX_TRIES)
				goto fail;
			v = get_hex(next_word(&p), &len);
			if (!v || len > SIM_MAX_PIN) {
				free(v);
				goto fail;
			}
			card->secret[s].tries = (int)u;
			card->secret[s].set = len > 0;
			card->secret[s].len = len;
			memcpy(card->secret[s].value, v, len);
			memset(v, 0, len);
			free(v);
		} else if (strcmp(w, "object") == 0) {
			struct sim_object fresh;
			unsigned long flags;

			memset(&fresh, 0, sizeof(fresh));
			if (get_ulong(next_word(&p), 10, &u) < 0 ||
			    get_ulong(next_word(&p), 10, &flags) < 0)
				goto fail;
			fresh.handle = u;
			fresh.flags = (unsigned int)flags;
			if (card_add_object(card, &fresh) < 0)
				goto fail;
			obj = &card->objects[card->nobjects - 1];
		} else if (strcmp(w, "attr") == 0) {
			unsigned char *v;
			size_t len;
			int ret;

			if (!obj || get_ulong(next_word(&p), 16, &u) < 0)
				goto fail;
			v = get_hex(next_word(&p), &len);
			if (!v)
				goto fail;
			ret = object_set(obj, u, v, len);
			free(v);
			if (ret < 0)
				goto fail;
		} else if (strcmp(w, "end") == 0) {
			ended = 1;
		} else {
			goto fail;
		}
	}
	/* A state file without "end" was cut short: never use half a card. */
	if (!ended)
		goto fail;
	for (i = 0; i < conf->nreaders; i++) {
		if (!seen[i]) {
			*mismatch = 1;
			goto fail;
		}
	}
	free(seen);
	return st;

fail:
	*errline = lineno;
	free(seen);
	state_free(st);
	return NULL;
}

/* ---- the store: memory or file ---- */

static const struct sim_conf *store_conf;
static struct sim_state *memory_state; /* PERSONAL_SIM_STATE unset */
static char *state_path;
static char *lock_path;
static os_file lock_file = OS_NO_FILE;

static char *read_all(const char *path, int *missing)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	*missing = 0;
	if (!f) {
		*missing = errno == ENOENT;
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *mem = realloc(buf, cap + 65536);

			if (!mem) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = mem;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static struct sim_state *load_file(void)
{
	struct sim_state *st;
	int missing, errline = 0, mismatch = 0;
	char *text = read_all(state_path, &missing);

	if (!text) {
		fprintf(stderr, "personal-sim: %s: cannot read the state file: %s\n", state_path,
		        missing ? "it disappeared" : strerror(errno));
		return NULL;
	}
	st = state_parse(text, store_conf, &errline, &mismatch);
	free(text);
	if (!st && mismatch)
		fprintf(stderr,
		        "personal-sim: %s: the state file was made from another reader/card list "
		        "than %s; delete it to start afresh\n",
		        state_path, store_conf->path);
	else if (!st)
		fprintf(stderr, "personal-sim: %s:%d: the state file is corrupt\n", state_path,
		        errline);
	return st;
}

static int save_file(const struct sim_state *st)
{
	char *tmp;
	FILE *f;
	int ret = -1;

	tmp = malloc(strlen(state_path) + 32);
	if (!tmp)
		return -1;
	sprintf(tmp, "%s.tmp.%ld", state_path, sim_getpid());
	f = fopen(tmp, "wb");
	if (!f) {
		fprintf(stderr, "personal-sim: %s: cannot write: %s\n", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (state_write(f, store_conf, st) == 0 && fflush(f) == 0)
		ret = 0;
	if (fclose(f) != 0)
		ret = -1;
	if (ret == 0 && os_replace(tmp, state_path) != 0) {
		fprintf(stderr, "personal-sim: %s: cannot replace the state file: %s\n", state_path,
		        strerror(errno));
		ret = -1;
	}
	if (ret != 0)
		remove(tmp);
	free(tmp);
	return ret;
}

void store_fini(void)
{
	state_free(memory_state);
	memory_state = NULL;
	if (lock_file != OS_NO_FILE)
		os_lock_close(lock_file);
	lock_file = OS_NO_FILE;
	free(state_path);
	free(lock_path);
	state_path = lock_path = NULL;
	store_conf = NULL;
}

/*
 * Makes the state file from the configuration on first use, or checks that
 * the existing one belongs to this configuration.
 */
int store_init(const struct sim_conf *conf, const char *path)
{
	struct sim_state *st = NULL;
	char *text;
	int missing, ret = -1;

	store_conf = conf;
	if (!path || !*path) {
		memory_state = state_from_conf(conf);
		return memory_state ? 0 : -1;
	}

	state_path = strdup(path);
	lock_path = malloc(strlen(path) + 6);
	if (!state_path || !lock_path)
		goto out;
	sprintf(lock_path, "%s.lock", path);
	lock_file = os_lock_open(lock_path);
	if (lock_file == OS_NO_FILE) {
		fprintf(stderr, "personal-sim: %s: cannot open the lock file: %s\n", lock_path,
		        strerror(errno));
		goto out;
	}
	if (os_lock(lock_file, 1) < 0)
		goto out;
	text = read_all(state_path, &missing);
	if (text) {
		free(text);
		st = load_file();
		ret = st ? 0 : -1;
	} else if (missing) {
		st = state_from_conf(conf);
		ret = st ? save_file(st) : -1;
	} else {
		fprintf(stderr, "personal-sim: %s: cannot read the state file: %s\n", state_path,
		        strerror(errno));
	}
	os_unlock(lock_file);

out:
	state_free(st);
	if (ret < 0)
		store_fini();
	return ret;
}

/* A fresh copy of the state, for reading; the caller frees it. */
int store_read(struct sim_state **out)
{
	if (memory_state) {
		*out = state_clone(memory_state);
		return *out ? 0 : -1;
	}
	if (os_lock(lock_file, 0) < 0)
		return -1;
	*out = load_file();
	os_unlock(lock_file);
	return *out ? 0 : -1;
}

/*
 * A fresh copy of the state for changing it, under the exclusive lock,
 * which store_commit() or store_abort() releases.
 */
int store_begin(struct sim_state **out)
{
	if (memory_state) {
		*out = state_clone(memory_state);
		return *out ? 0 : -1;
	}
	if (os_lock(lock_file, 1) < 0)
		return -1;
	*out = load_file();
	if (!*out) {
		os_unlock(lock_file);
		return -1;
	}
	return 0;
}

int store_commit(struct sim_state *st)
{
	int ret;

	st->generation++;
	if (memory_state) {
		struct sim_state *copy = state_clone(st);

		if (!copy)
			return -1;
		state_free(memory_state);
		memory_state = copy;
		return 0;
	}
	ret = save_file(st);
	os_unlock(lock_file);
	return ret;
}

void store_abort(void)
{
	if (!memory_state)
		os_unlock(lock_file);
}
