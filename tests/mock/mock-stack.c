/*
 * Layers over the mock backend, configured from text (mock-stack.h).
 */
#include "config.h"

#include "mock-stack.h"
#include "p11-trace-ring.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "../unit/test-support.h"

int mock_stack_init(mock_stack *s)
{
	const char *tmp = getenv("TMPDIR");

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "%s/p11shim-mock-XXXXXX", tmp ? tmp : "/tmp");
	return mkdtemp(s->dir) != NULL ? 0 : -1;
}

int mock_stack_write(mock_stack *s, const char *name, const void *data, size_t n, char *path,
                     size_t len)
{
	char buf[PATH_MAX];
	FILE *f;
	int rc = -1;

	snprintf(buf, sizeof(buf), "%s/%s", s->dir, name);
	if (path != NULL)
		snprintf(path, len, "%s", buf);
	f = fopen(buf, "wb");
	if (f == NULL)
		return -1;
	if (fwrite(data, 1, n, f) == n)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	/* The shim refuses a configuration others can write. */
	if (rc == 0 && chmod(buf, 0600) != 0)
		rc = -1;
	return rc;
}

char *mock_stack_read(mock_stack *s, const char *name)
{
	char path[PATH_MAX], *buf = NULL, *mem, *staged = NULL;
	size_t n = 0, got;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	for (;;) {
		mem = realloc(buf, n + 4097);
		if (mem == NULL) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = mem;
		got = fread(buf + n, 1, 4096, f);
		n += got;
		buf[n] = '\0';
		if (got == 0)
			break;
	}
	/* A live trace: with what the trace still stages, as `p11shim trace` reads it. */
	if (buf != NULL && (got = p11_ring_pending(path, fileno(f), &staged)) > 0 &&
	    (mem = realloc(buf, n + got + 1)) != NULL) {
		buf = mem;
		memcpy(buf + n, staged, got);
		buf[n + got] = '\0';
	}
	free(staged);
	fclose(f);
	return buf;
}

size_t mock_text_count(const char *hay, const char *needle)
{
	size_t n = 0;

	while (hay != NULL && (hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* conf with every @DIR@ replaced by dir, malloc'ed. */
static char *expand(const char *conf, const char *dir)
{
	size_t n = strlen(conf) + 1, dl = strlen(dir);
	const char *p;
	char *out, *o;

	for (p = conf; (p = strstr(p, "@DIR@")) != NULL; p += 5)
		n += dl;
	out = malloc(n);
	if (out == NULL)
		return NULL;
	for (o = out, p = conf; *p != '\0';) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			memcpy(o, dir, dl);
			o += dl;
			p += 5;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

int mock_stack_open(mock_stack *s, mock *m, const char *conf, const p11_layer_ctor *ctors)
{
	p11_config_sources src = { 0 };
	char path[PATH_MAX], *text;
	p11_layer_ctor ctor;
	p11_layer *layer;
	size_t i;

	text = expand(conf, s->dir);
	if (text == NULL || mock_stack_file(s, "p11shim.conf", text, path, sizeof(path)) != 0) {
		free(text);
		snprintf(s->err, sizeof(s->err), "cannot write %s/p11shim.conf", s->dir);
		return -1;
	}
	free(text);
	src.conf_env_file = path;
	s->cfg = p11_config_load(&src, s->err, sizeof(s->err));
	if (s->cfg == NULL)
		return -1;
	memset(&s->ctx, 0, sizeof(s->ctx));
	s->ctx.cfg = s->cfg;
	s->ctx.backend = mock_layer(m);
	s->n = 0;
	for (i = 0;; i++) {
		ctor = ctors != NULL           ? ctors[i] :
		       i < p11_stack_order_len ? p11_stack_order[i] :
		                                 NULL;
		if (ctor == NULL || ctor == p11_backend_layer_new)
			break;
		s->err[0] = '\0';
		layer = ctor(&s->ctx, s->err, sizeof(s->err));
		if (layer == NULL && s->err[0] == '\0')
			continue; /* switched off */
		if (layer == NULL || s->n == MOCK_STACK_MAX - 1) {
			p11_layer_free(layer);
			goto fail;
		}
		s->layers[s->n++] = layer;
	}
	s->layers[s->n++] = mock_layer(m);
	memset(&s->top, 0, sizeof(s->top));
	if (p11_stack_build(s->layers, s->n, &s->top) != 0) {
		snprintf(s->err, sizeof(s->err), "incomplete layer stack");
		goto fail;
	}
	return 0;
fail:
	if (s->err[0] == '\0')
		snprintf(s->err, sizeof(s->err), "too many layers");
	mock_stack_close(s);
	return -1;
}

p11_layer *mock_stack_layer(mock_stack *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->layers[i]->name, name) == 0)
			return s->layers[i];
	return NULL;
}

void mock_stack_close(mock_stack *s)
{
	size_t i;

	/* The last one is the mock's, which the mock owns. */
	for (i = 0; i < s->n; i++)
		if (s->layers[i] != s->ctx.backend)
			p11_layer_free(s->layers[i]);
	s->n = 0;
	for (i = 0; i < MOCK_STACK_MAX; i++)
		s->layers[i] = NULL;
	p11_config_free(s->cfg);
	s->cfg = NULL;
}

void mock_stack_free(mock_stack *s)
{
	mock_stack_close(s);
	if (s->dir[0] != '\0')
		test_remove_tree(s->dir);
	s->dir[0] = '\0';
}

int mock_cert_der(const char *subject_serial, unsigned char **der, CK_ULONG *len)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	unsigned char *tmp = NULL;
	X509_NAME *name;
	int n, rc = -1;

	*der = NULL;
	if (key == NULL || x == NULL)
		goto out;
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"mock", -1,
	                               -1, 0) != 1)
		goto out;
	if (subject_serial != NULL &&
	    X509_NAME_add_entry_by_NID(name, NID_serialNumber, MBSTRING_ASC,
	                               (const unsigned char *)subject_serial, -1, -1, 0) != 1)
		goto out;
	if (X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, EVP_sha256()) == 0)
		goto out;
	n = i2d_X509(x, &tmp);
	if (n <= 0 || (*der = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(*der, tmp, (size_t)n);
	*len = (CK_ULONG)n;
	rc = 0;
out:
	OPENSSL_free(tmp);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

void mock_world(mock *m)
{
	mock_add_slot(m, 52, "Gemalto USB Smart Card Reader 0");
	mock_set_token(m, 52, "Encoder card", "Cosmo 8.2", "0000000000000052",
	               CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED);
	mock_set_pin(m, 52, CKU_USER, MOCK_USER_PIN);
	mock_set_pin(m, 52, CKU_SO, MOCK_PUK);
	mock_set_pin(m, 52, MOCK_OTHER_ADMIN, MOCK_OPERATOR_PIN);
	mock_add_slot(m, 134, "Microsoft Virtual Smart Card 0");
	mock_set_token(m, 134, "Virtual card", "TPM", "0000000000000134", CKF_TOKEN_INITIALIZED);
	mock_add_slot(m, 9, "SCM Microsystems SCR3310 1");
}

int mock_stack_personal(mock_stack *s, bool caching)
{
	unsigned char *der = NULL;
	CK_ULONG n = 0;
	char cert[PATH_MAX], text[PATH_MAX + 64];
	int rc = -1;

	if (mock_cert_der(NULL, &der, &n) != 0 ||
	    mock_stack_write(s, "pinenc.der", der, n, cert, sizeof(cert)) != 0)
		goto out;
	snprintf(text, sizeof(text), "[PIN Encryption]\nFile = %s\n", cert);
	if (mock_stack_file(s, "iD2ppa.cfg", text, NULL, 0) != 0 ||
	    mock_stack_file(s, "Personal.cfg",
	                    caching ? "[Cache]\nCacheValidity = 3600\n" :
	                              "[Cache]\nCacheValidity = 0\n",
	                    NULL, 0) != 0)
		goto out;
	rc = 0;
out:
	free(der);
	return rc;
}
