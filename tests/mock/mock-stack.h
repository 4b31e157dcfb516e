/*
 * Layers over the mock backend (mock.h), called like an application calls
 * the shim (STYLE.md section 8, after p11-kit's test-filter.c): one policy
 * layer alone, or the stack in production order (p11_stack_order) with the
 * mock in the backend's place. The configuration is the text a user would
 * write, in a scratch folder of the test's own.
 */
#ifndef P11_MOCK_STACK_H
#define P11_MOCK_STACK_H

#include <string.h>

#include "mock.h"
#include "p11-shim.h"

#define MOCK_STACK_MAX 8

typedef struct {
	char dir[256]; /* the scratch folder: p11shim.conf and what the test puts there */
	p11_config *cfg;
	p11_shim_ctx ctx; /* ctx.backend is the mock's layer */
	p11_layer *layers[MOCK_STACK_MAX];
	size_t n;         /* layers, the mock (last) included */
	p11_dispatch top; /* the entry of each function */
	char err[1024];   /* why mock_stack_open failed */
} mock_stack;

/* Makes the scratch folder (s->dir). 0, or -1. */
int mock_stack_init(mock_stack *s);

/*
 * Loads conf (every "@DIR@" replaced by s->dir) as the P11SHIM_CONF file,
 * makes the layers of ctors (NULL-terminated, outermost first; NULL: the
 * production order, its backend replaced by the mock) and stacks them over
 * the mock. A layer switched off by the configuration is left out, as in
 * production. 0, or -1 with s->err set (a bad configuration, a layer that
 * refused it).
 */
int mock_stack_open(mock_stack *s, mock *m, const char *conf, const p11_layer_ctor *ctors);
/* The layer named name ("readers") in the stack, or NULL. */
p11_layer *mock_stack_layer(mock_stack *s, const char *name);
/* Frees the layers and the configuration (not the mock); keeps the folder. */
void mock_stack_close(mock_stack *s);
/* mock_stack_close, then removes the scratch folder. */
void mock_stack_free(mock_stack *s);

/* Writes n bytes to s->dir/name (mode 0600); the full path goes to path (may be NULL). 0, or -1. */
int mock_stack_write(mock_stack *s, const char *name, const void *data, size_t n, char *path,
                     size_t len);
#define mock_stack_file(s, name, text, path, len) \
	mock_stack_write((s), (name), (text), strlen(text), (path), (len))

/* The contents of s->dir/name, malloc'ed and NUL-terminated, or NULL. */
char *mock_stack_read(mock_stack *s, const char *name);
/* How often needle occurs in hay. */
size_t mock_text_count(const char *hay, const char *needle);

/* Calls a function at the top of the stack, as the shim's entry point does. */
#define MOCK_CALL(s, name, ...) ((s)->top.C_##name.fn((s)->top.C_##name.layer, __VA_ARGS__))

/*
 * A self-signed X.509 certificate (DER, malloc'ed into *der) whose subject
 * has this serialNumber (NULL: none). 0, or -1.
 */
int mock_cert_der(const char *subject_serial, unsigned char **der, CK_ULONG *len);

/*
 * The tests' common world: slot 52 "Gemalto USB Smart Card Reader 0" with
 * an initialised Cosmo 8.2 token of the PUK profile (CKU_SO takes the PUK,
 * MOCK_OTHER_ADMIN the operator PIN, CKU_USER the user PIN), slot 134
 * "Microsoft Virtual Smart Card 0" with a token (a default SkipReader
 * pattern hides it), slot 9 "SCM Microsystems SCR3310 1" without a token.
 */
#define MOCK_USER_PIN "123456"
#define MOCK_PUK "87654321"
#define MOCK_OPERATOR_PIN "24682468"
#define MOCK_OTHER_ADMIN 0x80000001UL /* [login] OtherAdminUserType's default */
void mock_world(mock *m);

/*
 * The middleware's own files in s->dir, as an encoding station has them:
 * Personal.cfg (card caching on or off) and iD2ppa.cfg naming a readable
 * PIN-encryption certificate. MOCK_PERSONAL_CONF names them. 0, or -1.
 */
int mock_stack_personal(mock_stack *s, bool caching);
#define MOCK_PERSONAL_CONF                                    \
	"[middleware]\nPersonalConfig = @DIR@/Personal.cfg\n" \
	"PinEncryptionConfig = @DIR@/iD2ppa.cfg\n"

#endif /* P11_MOCK_STACK_H */
