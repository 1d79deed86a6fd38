/*
 * log: one line per event on stderr; see log.h.
 *
 * Each line is formatted into a stack buffer and written with a single write(2), so lines from the
 * control thread and the TURN workers never interleave mid-line and no lock is needed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static atomic_int log_level = LOGL_INFO;
static atomic_int log_journal = -1; /* -1 unknown, 0 plain, 1 journald */

static const char *const level_names[] = {
	[LOGL_ERR] = "error", [LOGL_WARN] = "warning", [LOGL_NOTICE] = "notice",
	[LOGL_INFO] = "info", [LOGL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, level);
}

int log_level_parse(const char *name)
{
	for (int l = LOGL_ERR; l <= LOGL_DEBUG; l++)
		if (level_names[l] && strcmp(name, level_names[l]) == 0)
			return l;
	return -EINVAL;
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	size_t n;
	va_list ap;
	int journal;

	if (!log_enabled(level))
		return;

	/* journald sets JOURNAL_STREAM for services whose stderr it collects: it then timestamps the
	 * lines itself and reads the level from an sd-daemon "<N>" prefix. */
	journal = atomic_load(&log_journal);
	if (journal < 0) {
		journal = getenv("JOURNAL_STREAM") != NULL;
		atomic_store(&log_journal, journal);
	}
	if (journal) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s: ", ts.tv_nsec / 1000000,
				      level_names[level]);
	}
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: still end the line */
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w; /* nowhere to report a failed log write */
}
