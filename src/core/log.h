/*
 * log: one line per event on stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with an sd-daemon "<N>" priority prefix so
 * journald records the level; otherwise lines carry a UTC timestamp and the level name. Never log
 * secrets: passwords, credentials, tokens, HMAC keys.
 */
#ifndef TINCAN_CORE_LOG_H
#define TINCAN_CORE_LOG_H

/* Levels use syslog's numbers (RFC 5424 severities), so "<N>" prefixes need no mapping. */
enum log_level {
	LOGL_ERR = 3,
	LOGL_WARN = 4,
	LOGL_NOTICE = 5,
	LOGL_INFO = 6,
	LOGL_DEBUG = 7,
};

/* Sets the most verbose level that is printed (default LOGL_INFO). Thread-safe. */
void log_set_level(enum log_level level);

/* Parses "error", "warning", "notice", "info" or "debug". Returns the level, or -EINVAL. */
int log_level_parse(const char *name);

/* True if a message at @level would be printed: guards costly formatting on hot paths. */
int log_enabled(enum log_level level);

/* Prints one line (a trailing newline is added). Thread-safe: one write(2) per line. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOGL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOGL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOGL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOGL_DEBUG)) log_msg(LOGL_DEBUG, __VA_ARGS__); } while (0)

#endif
