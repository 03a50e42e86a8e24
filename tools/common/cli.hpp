// SPDX-License-Identifier: GPL-2.0-or-later
// What every tool's main shares: process-selection options, stdin pid
// lists, exit codes, message prefixes.  Lives in the tools, not the library:
// only tools print and exit.
#pragma once
#include <cxxopts.hpp>
#include <string>
#include <string_view>

#include "mergemem/report.hpp"
#include "mergemem/select.hpp"

namespace mmcli {

// EXIT STATUS in every man page.
enum Exit : int { ok = 0, partial = 1, usage = 2, fatal = 3 };

struct Tool {
	std::string name;
	bool verbose = false;
	bool color_out = false;  // standard output gets colour (--color, a terminal, no NO_COLOR)
	bool color_err = false;  // standard error does
	void err(std::string_view msg) const;   // "name: msg" on stderr
	void info(std::string_view msg) const;  // only with -v
	[[noreturn]] void die(int code, std::string_view msg) const;
};

// -a/--all, -u/--user, -n/--name, -f/--full, -x/--exclude and the PID operands.
void add_selection_options(cxxopts::Options& o);
// Builds the criteria from options, operands and (when neither names a
// process and stdin is not a terminal) stdin.  Exits 2 on bad input.
mergemem::Criteria selection_from(const Tool& t, const cxxopts::ParseResult& r);
// Runs the selection, turns named-but-unusable pids into failures and the
// rest into a skipped count; exits 3 when /proc cannot be read.
mergemem::Selection select_or_die(const Tool& t, const mergemem::Criteria& c);
// The one-line message for a process we could not use, with what to do.
std::string skip_message(const mergemem::Skipped& s);
std::string failure_hint(const mergemem::Error& e);

// --color[=WHEN]: always, never or auto (only on a terminal, and never
// when NO_COLOR is set to anything, or TERM is dumb).
[[nodiscard]] bool use_color(int fd, const std::string& when);
// Sets t.color_out and t.color_err from --color (exits 2 on a bad WHEN).
void setup_color(Tool& t, const cxxopts::ParseResult& r);
// The first line of s (a table's header) in bold, when colour is on.
[[nodiscard]] std::string bold_header(const Tool& t, std::string s);

// -q, -v, -h, -V and --color, in `group`.
void add_common_options(cxxopts::Options& o, const std::string& group, const std::string& verbose_help);
// Parses argv with the PID operands; answers --help and --version (exit 0);
// sets tool.verbose and routes the library's log to stderr.
cxxopts::ParseResult start(Tool& t, cxxopts::Options& o, int argc, char** argv, const std::vector<std::string>& groups);
// Parse argv; on a bad option print "name: ...\nTry 'name --help'..." and exit 2.
cxxopts::ParseResult parse_or_die(const Tool& t, cxxopts::Options& o, int argc, char** argv);
// SIGINT, SIGTERM and SIGHUP to `handler` (no SA_RESTART), then unblocked:
// a parent may have blocked them to hand them over race-free.
void catch_stop_signals(void (*handler)(int));
// Raise RLIMIT_NOFILE's soft limit to the hard one: each process costs a
// pidfd and a /proc directory fd for the whole run.
void raise_nofile();
void print_version(const Tool& t);

} // namespace mmcli
