/*
 * Trace formatters for the argument kinds PKCS#11 3.0 adds (include/p11fn.def):
 * C_LoginUser's user name, the message functions' parameter structures and
 * flags. Same rules as src/trace/format.c: NULL-safe, bounded, no secret
 * (an IV, a nonce and a tag are public; the data they go with follow
 * [trace] Data like every other buffer).
 */
#include "config.h"

#include "p11-trace.h"

#include "p11-const.h"
#include "p11-trace-schema.h"

/* Beyond this, a user name is cut (it is a label, not a buffer). */
#define MAX_USERNAME 256

void tf_username(p11_tb *tb, const char *name, CK_UTF8CHAR_PTR p, CK_ULONG n)
{
	p11_tb_key(tb, name);
	if (p == NULL)
		p11_tb_null(tb);
	else
		p11_tb_str(tb, (const char *)p, n > MAX_USERNAME ? MAX_USERNAME : n);
}

void tf_msg_flags(p11_tb *tb, const char *name, CK_FLAGS f)
{
	p11_tb_key(tb, name);
	if (f == CKF_END_OF_MESSAGE)
		p11_tb_str(tb, "CKF_END_OF_MESSAGE", 18);
	else
		p11_tb_ulong(tb, f);
}

static void generator(p11_tb *tb, const char *name, CK_GENERATOR_FUNCTION g)
{
	static const char *const names[] = { "CKG_NO_GENERATE", "CKG_GENERATE",
		                             "CKG_GENERATE_COUNTER", "CKG_GENERATE_RANDOM" };

	p11_tb_key(tb, name);
	if (g < sizeof(names) / sizeof(names[0]))
		p11_tb_str(tb, names[g], strlen(names[g]));
	else
		p11_tb_ulong(tb, g);
}

/*
 * The structure is known by its size: CK_GCM_MESSAGE_PARAMS (AES-GCM) and
 * CK_CCM_MESSAGE_PARAMS (AES-CCM) differ in size on every ABI; another
 * parameter shows its length (and bytes with Data = hex), as C_*Init's do.
 */
void tf_msg_param(p11_tb *tb, const char *name, CK_VOID_PTR p, CK_ULONG n)
{
	if (p != NULL && n == sizeof(CK_GCM_MESSAGE_PARAMS)) {
		const CK_GCM_MESSAGE_PARAMS *g = p;
		p11_tb_key(tb, name);
		p11_tb_open(tb, '{');
		p11_tb_key(tb, P11_TF_TYPE);
		p11_tb_str(tb, "CK_GCM_MESSAGE_PARAMS", 21);
		tf_bytes(tb, "pIv", g->pIv, g->ulIvLen, false);
		tf_ulong(tb, "ulIvFixedBits", g->ulIvFixedBits);
		generator(tb, "ivGenerator", g->ivGenerator);
		tf_ulong(tb, "ulTagBits", g->ulTagBits);
		p11_tb_close(tb, '}');
	} else if (p != NULL && n == sizeof(CK_CCM_MESSAGE_PARAMS)) {
		const CK_CCM_MESSAGE_PARAMS *c = p;
		p11_tb_key(tb, name);
		p11_tb_open(tb, '{');
		p11_tb_key(tb, P11_TF_TYPE);
		p11_tb_str(tb, "CK_CCM_MESSAGE_PARAMS", 21);
		tf_ulong(tb, "ulDataLen", c->ulDataLen);
		tf_bytes(tb, "pNonce", c->pNonce, c->ulNonceLen, false);
		tf_ulong(tb, "ulNonceFixedBits", c->ulNonceFixedBits);
		generator(tb, "nonceGenerator", c->nonceGenerator);
		tf_ulong(tb, "ulMACLen", c->ulMACLen);
		p11_tb_close(tb, '}');
	} else {
		tf_bytes(tb, name, p, n, false);
	}
}

/* After the call: the IV or nonce the token generated, and the tag or MAC. */
void tf_out_msg_param(p11_tb *tb, CK_RV rv, const char *name, CK_VOID_PTR p, CK_ULONG n)
{
	if (rv != CKR_OK || p == NULL)
		return;
	if (n == sizeof(CK_GCM_MESSAGE_PARAMS)) {
		const CK_GCM_MESSAGE_PARAMS *g = p;
		p11_tb_key(tb, name);
		p11_tb_open(tb, '{');
		tf_bytes(tb, "pIv", g->pIv, g->ulIvLen, false);
		tf_bytes(tb, "pTag", g->pTag, g->ulTagBits / 8, false);
		p11_tb_close(tb, '}');
	} else if (n == sizeof(CK_CCM_MESSAGE_PARAMS)) {
		const CK_CCM_MESSAGE_PARAMS *c = p;
		p11_tb_key(tb, name);
		p11_tb_open(tb, '{');
		tf_bytes(tb, "pNonce", c->pNonce, c->ulNonceLen, false);
		tf_bytes(tb, "pMAC", c->pMAC, c->ulMACLen, false);
		p11_tb_close(tb, '}');
	}
}
