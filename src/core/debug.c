/*
 * Messages the user must see, and policy events (include/p11-shim.h).
 *
 * A message: one line on stderr, and the same text as a note in the current
 * call's trace record, so that it is found where the user looks: the
 * client's console, or the trace.
 * An event adds the system's log ([log] System): an encoder that runs as a
 * service has no stderr anyone reads, and its trace is off by default,
 * while the station's monitoring reads syslog/journald or the Windows
 * Event Log. Every refusal and policy action of the layers comes here.
 */
#include "config.h"

#include "p11-shim.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "p11-compat.h"
#include "p11-text.h"

enum { LOG_OFF, LOG_ON, LOG_ALL };

/* Read once per C_Initialize; refusals before a configuration is read log too. */
static atomic_int log_level = LOG_ON;

void p11_event_configure(const p11_config *cfg)
{
	const char *v = cfg ? p11_config_raw(cfg, P11_KEY_LOG_SYSTEM, NULL, NULL, NULL) : "on";

	atomic_store(&log_level, strcasecmp(v, "off") == 0 ? LOG_OFF :
	                         strcasecmp(v, "all") == 0 ? LOG_ALL :
	                                                     LOG_ON);
}

/* ---- rate limit: a small table of recent (id, text hash) ---- */

#define RATE_SLOTS 32

static struct {
	unsigned id;
	unsigned long hash;
	long long last; /* when one last went to the log */
	unsigned long suppressed;
} rate[RATE_SLOTS];
static atomic_flag rate_lock = ATOMIC_FLAG_INIT;

static unsigned long text_hash(const char *s)
{
	unsigned long h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h;
}

bool p11_event_rate_ok(unsigned id, const char *text, long long now, unsigned long *suppressed)
{
	unsigned long h = text_hash(text);
	size_t i, oldest = 0;
	bool ok = true;

	*suppressed = 0;
	while (atomic_flag_test_and_set_explicit(&rate_lock, memory_order_acquire))
		;
	for (i = 0; i < RATE_SLOTS; i++) {
		if (rate[i].id == id && rate[i].hash == h)
			break;
		if (rate[i].last < rate[oldest].last)
			oldest = i;
	}
	if (i < RATE_SLOTS && now - rate[i].last < P11_EVENT_INTERVAL) {
		rate[i].suppressed++;
		ok = false;
	} else {
		if (i == RATE_SLOTS) {
			/* A new one takes the slot used least recently. */
			i = oldest;
			rate[i].suppressed = 0;
		}
		*suppressed = rate[i].suppressed;
		rate[i].id = id;
		rate[i].hash = h;
		rate[i].last = now;
		rate[i].suppressed = 0;
	}
	atomic_flag_clear_explicit(&rate_lock, memory_order_release);
	return ok;
}

void p11_event_rate_reset(void)
{
	while (atomic_flag_test_and_set_explicit(&rate_lock, memory_order_acquire))
		;
	memset(rate, 0, sizeof(rate));
	atomic_flag_clear_explicit(&rate_lock, memory_order_release);
}

/* ---- events ---- */

static const char *kind_of(p11_event_id id)
{
	switch (id) {
	case P11_EV_MIDDLEWARE_WARNING:
	case P11_EV_SERIAL_WARNING:
	case P11_EV_ERASER_WARNING:
	case P11_EV_TRACE_REFUSED: return "warning";
	default: return id >= 200 ? "action" : "refused";
	}
}

/* "puk: PUK change refused ..." -> area "puk", text after the tag. */
static const char *split_area(const char *text, char *area, size_t len)
{
	const char *colon = strchr(text, ':');
	size_t n = colon ? (size_t)(colon - text) : 0;

	if (colon == NULL || n == 0 || n >= len || strcspn(text, " ") < n || colon[1] != ' ') {
		snprintf(area, len, "shim");
		return text;
	}
	memcpy(area, text, n);
	area[n] = '\0';
	return colon + 2;
}

static void system_log(p11_event_id id, CK_SLOT_ID slot, const char *text)
{
	int level = atomic_load(&log_level);
	unsigned long suppressed;
	char line[1200], area[32], where[32] = "";
	const char *rest;

	if (level == LOG_OFF || (id >= 200 && level != LOG_ALL))
		return;
	if (!p11_event_rate_ok(id, text, (long long)time(NULL), &suppressed))
		return;
	rest = split_area(text, area, sizeof(area));
	if (slot != P11_NO_SLOT)
		snprintf(where, sizeof(where), " slot=%lu", (unsigned long)slot);
	/* One structured line: key=value, then the text (its rule and its fix). */
	snprintf(line, sizeof(line), "event=%u %s area=%s%s: %s", (unsigned)id, kind_of(id), area,
	         where, rest);
	if (suppressed)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		         " (%lu more like this since the last such line, not logged)", suppressed);
	compat_system_log(id >= 200                           ? COMPAT_LOG_INFO :
	                  strcmp(kind_of(id), "warning") == 0 ? COMPAT_LOG_WARNING :
	                                                        COMPAT_LOG_ERROR,
	                  (unsigned)id, line);
}

static void event_v(p11_event_id id, CK_SLOT_ID slot, const char *fmt, va_list ap)
{
	char buf[1024], shown[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/*
	 * The text holds what came from outside (a configuration value, a path,
	 * a reader name, a mapped field): escaped for the terminal and the log.
	 * The trace note keeps the text; the trace's own quoting, and the CLI
	 * that shows it, take care of it there.
	 */
	p11_text_safe(shown, sizeof(shown), buf);
	if (id < 200)
		fprintf(stderr, "p11shim: %s\n", shown);
	p11_note("%s", buf);
	system_log(id, slot, shown);
}

void p11_event(p11_event_id id, CK_SLOT_ID slot, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_v(id, slot, fmt, ap);
	va_end(ap);
}

void p11_message(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_v(P11_EV_ERROR, P11_NO_SLOT, fmt, ap);
	va_end(ap);
}
