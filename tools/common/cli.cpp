// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>

#include "mergemem/log.hpp"

#ifndef MERGEMEM_VERSION
#define MERGEMEM_VERSION "0"
#endif

namespace mmcli {

using namespace mergemem;

void Tool::err(std::string_view msg) const
{
	// The prefix in bold red on a terminal, as GCC and systemctl do.
	if (color_err)
		std::fprintf(stderr, "\033[1;31m%s:\033[0m %.*s\n", name.c_str(), int(msg.size()), msg.data());
	else
		std::fprintf(stderr, "%s: %.*s\n", name.c_str(), int(msg.size()), msg.data());
}

bool use_color(int fd, const std::string& when)
{
	if (when == "always")
		return true;
	if (when == "never")
		return false;
	const char* no = std::getenv("NO_COLOR");
	const char* term = std::getenv("TERM");
	return isatty(fd) && !(no && *no) && !(term && std::string_view(term) == "dumb");
}

void setup_color(Tool& t, const cxxopts::ParseResult& r)
{
	std::string when = r.count("color") ? r["color"].as<std::string>() : "auto";
	if (when != "auto" && when != "always" && when != "never")
		t.die(usage, "--color '" + when + "': expected auto, always or never");
	t.color_out = use_color(STDOUT_FILENO, when);
	t.color_err = use_color(STDERR_FILENO, when);
}

std::string bold_header(const Tool& t, std::string s)
{
	if (!t.color_out || s.empty())
		return s;
	size_t nl = s.find('\n');
	s.insert(nl == std::string::npos ? s.size() : nl, "\033[0m");
	return "\033[1m" + s;
}

void Tool::info(std::string_view msg) const
{
	if (verbose)
		err(msg);
}

void Tool::die(int code, std::string_view msg) const
{
	err(msg);
	std::exit(code);
}

void add_selection_options(cxxopts::Options& o)
{
	o.add_options("Selection")
	    ("a,all", "all processes the caller may read")
	    ("u,user", "processes whose effective user is NAME or UID (comma-separated, repeatable)",
	     cxxopts::value<std::vector<std::string>>(), "NAME|UID")
	    ("n,name", "processes whose name matches REGEX (extended regex, as pgrep)", cxxopts::value<std::string>(), "REGEX")
	    ("f,full", "match --name and --exclude against the full command line")
	    ("x,exclude", "leave out PID, or processes whose name matches REGEX (repeatable)",
	     cxxopts::value<std::vector<std::string>>(), "PID|REGEX")
	    ("pids", "process ids", cxxopts::value<std::vector<std::string>>());
}

static std::regex compile(const Tool& t, const std::string& what, const std::string& re)
{
	try {
		return std::regex(re, std::regex::extended | std::regex::optimize);
	} catch (const std::regex_error& e) {
		t.err(what + " '" + re + "': invalid regular expression (" + e.what() + ")");
		std::exit(usage);
	}
}

Criteria selection_from(const Tool& t, const cxxopts::ParseResult& r)
{
	Criteria c;
	c.all = r.count("all") > 0;
	c.full = r.count("full") > 0;
	if (r.count("user"))
		for (auto& list : r["user"].as<std::vector<std::string>>()) {
			size_t i = 0;
			while (i <= list.size()) {
				size_t j = std::min(list.find(',', i), list.size());
				auto u = resolve_user(std::string_view(list).substr(i, j - i));
				if (!u)
					t.die(usage, "--user: " + u.error().context + " — give a user name or a numeric uid");
				c.users.push_back(*u);
				i = j + 1;
			}
		}
	if (r.count("name"))
		c.name = compile(t, "--name", r["name"].as<std::string>());
	if (r.count("exclude"))
		for (auto& x : r["exclude"].as<std::vector<std::string>>()) {
			if (auto pid = parse_pid(x))
				c.exclude_pids.push_back(*pid);
			else
				c.exclude_names.push_back(compile(t, "--exclude", x));
		}
	if (r.count("pids")) {
		for (auto& s : r["pids"].as<std::vector<std::string>>()) {
			auto pid = parse_pid(s);
			if (!pid)
				t.die(usage, "argument " + pid.error().context + " — give process ids (e.g. from pgrep)");
			c.pids.push_back(*pid);
		}
	}
	if (c.all && !c.pids.empty())
		t.die(usage, "--all cannot be combined with PIDs — drop one of them");
	if (c.pids.empty() && !c.implicit()) {
		if (isatty(STDIN_FILENO))
			t.die(usage, "no processes selected — give PIDs, pipe them in (pgrep NAME | " + t.name +
			                 "), or use --all, --user or --name");
		std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
		auto pids = parse_pid_list(text);
		if (!pids)
			t.die(usage, "stdin: " + pids.error().context + " — expected whitespace-separated pids, as pgrep prints");
		if (pids->empty())
			t.die(partial, "stdin: no pids — nothing to do (did pgrep match anything?)");
		c.pids = std::move(*pids);
	}
	return c;
}

std::string failure_hint(const Error& e)
{
	switch (e.code) {
	case EACCES:
	case EPERM:
		return e.context + ": permission denied — run as the process's user, or as root (CAP_SYS_PTRACE)";
	case ESRCH:
		return e.context + (e.context.find("exited") == std::string::npos ? ": exited" : "") +
		       " — nothing to report for it";
	default:
		return e.message();
	}
}

std::string skip_message(const Skipped& s)
{
	std::string who = "pid " + std::to_string(s.pid) + (s.comm.empty() ? "" : " (" + s.comm + ")");
	switch (s.reason) {
	case SkipReason::not_found: return "pid " + std::to_string(s.pid) + ": no such process — check the pid (pgrep NAME)";
	case SkipReason::gone: return who + ": exited before it could be opened";
	case SkipReason::permission: return who + ": permission denied — run as its user, or as root (CAP_SYS_PTRACE)";
	case SkipReason::kernel_thread: return who + ": kernel thread, it has no user memory — skipped";
	case SkipReason::zombie: return who + ": zombie, it has no memory left — skipped (its parent has not reaped it)";
	case SkipReason::self: return who + ": this process — skipped";
	case SkipReason::no_descriptors:
		return who + ": no file descriptors left — raise the limit (ulimit -n) or select fewer processes";
	}
	return who;
}

Selection select_or_die(const Tool& t, const Criteria& c)
{
	auto sel = select_processes(c);
	if (!sel)
		t.die(fatal, sel.error().message() + " — is /proc mounted?");
	return std::move(*sel);
}

cxxopts::ParseResult parse_or_die(const Tool& t, cxxopts::Options& o, int argc, char** argv)
{
	try {
		return o.parse(argc, argv);
	} catch (const cxxopts::exceptions::exception& e) {
		t.err(e.what());
		std::fprintf(stderr, "Try '%s --help' for more information.\n", t.name.c_str());
		std::exit(usage);
	}
}

void add_common_options(cxxopts::Options& o, const std::string& group, const std::string& verbose_help)
{
	o.add_options(group)
	    ("q,quiet", "no progress line")
	    ("v,verbose", verbose_help)
	    ("h,help", "show this help and exit")
	    ("V,version", "show the version and exit")
	    ("color", "colour: auto (a terminal, no NO_COLOR), always or never", cxxopts::value<std::string>()->implicit_value("always"), "WHEN");
}

namespace {

// Whether the options table has the long option `name` (cxxopts' own
// table, not a search of the help text).
bool has_long_option(const cxxopts::Options& o, std::string_view name)
{
	for (auto& g : o.groups())
		for (auto& d : o.group_help(g).options)
			if (std::find(d.l.begin(), d.l.end(), name) != d.l.end())
				return true;
	return false;
}

// --config FILE: one long option per line, without its dashes ("name
// ^php-fpm$", "max-cpu 50"); '#' starts a comment.  The file's options go
// before the command line's, so the command line wins.
std::vector<std::string> expand_config(const Tool& t, const cxxopts::Options& o, int argc, char** argv)
{
	std::vector<std::string> out(argv, argv + argc);
	if (!has_long_option(o, "config"))
		return out; // this tool has no --config
	out.resize(1);
	std::string path;
	std::vector<std::string> rest;
	for (int i = 1; i < argc; ++i) {
		std::string_view a = argv[i];
		if (a == "--")
			for (; i < argc; ++i)
				rest.emplace_back(argv[i]);
		else if (a == "--config" && i + 1 < argc)
			path = argv[++i];
		else if (a.starts_with("--config="))
			path = std::string(a.substr(9));
		else
			rest.emplace_back(a);
	}
	if (!path.empty()) {
		auto text = mergemem::read_file(path);
		if (!text)
			t.die(text.error().code == ENOENT ? usage : fatal,
			      path + ": " + std::strerror(text.error().code) + " — check --config");
		size_t lineno = 0, pos = 0;
		while (pos < text->size()) {
			size_t nl = text->find('\n', pos);
			std::string line = text->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
			pos = nl == std::string::npos ? text->size() : nl + 1;
			++lineno;
			auto trim = [](std::string s) {
				s.erase(0, s.find_first_not_of(" \t\r"));
				s.erase(s.find_last_not_of(" \t\r") + 1);
				return s;
			};
			line = trim(line.substr(0, line.find('#')));
			if (line.empty())
				continue;
			size_t sp = line.find_first_of(" \t=");
			std::string key = line.substr(0, sp);
			std::string value = sp == std::string::npos ? "" : trim(line.substr(sp + 1));
			const std::string opt = "--" + key;
			if (key == "config" || key == "help" || key == "version" || !has_long_option(o, key))
				t.die(usage, path + ":" + std::to_string(lineno) + ": unknown option '" + key + "' — see " + t.name +
				                 "(1), CONFIGURATION FILE");
			out.push_back(opt);
			if (!value.empty())
				out.push_back(value);
		}
	}
	if (!path.empty()) {
		out.push_back("--config"); // so that the tool knows a file was read
		out.push_back(path);
	}
	out.insert(out.end(), rest.begin(), rest.end());
	return out;
}

} // namespace

cxxopts::ParseResult start(Tool& t, cxxopts::Options& o, int argc, char** argv, const std::vector<std::string>& groups)
{
	o.custom_help("[options] [PID...]");
	o.positional_help("");
	o.parse_positional({"pids"});
	// Kept alive for the parse result, which may refer to them.
	static std::vector<std::string> args;
	static std::vector<char*> ptrs;
	args = expand_config(t, o, argc, argv);
	ptrs.clear();
	for (auto& a : args)
		ptrs.push_back(a.data());
	ptrs.push_back(nullptr);
	auto r = parse_or_die(t, o, int(args.size()), ptrs.data());
	if (r.count("help")) {
		std::fputs(o.help(groups).c_str(), stdout);
		std::printf("\nPIDs are read from stdin when none are given and stdin is not a terminal.\nSee %s(1).\n",
		            t.name.c_str());
		std::exit(ok);
	}
	if (r.count("version")) {
		print_version(t);
		std::exit(ok);
	}
	t.verbose = r.count("verbose") > 0;
	setup_color(t, r);
	set_log([&t](LogLevel l, std::string_view m) {
		if (l != LogLevel::debug || t.verbose)
			t.err(m);
	});
	return r;
}

void catch_stop_signals(void (*handler)(int))
{
	sigset_t mask;
	sigemptyset(&mask);
	for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
		struct sigaction sa{};
		sa.sa_handler = handler;
		sigaction(sig, &sa, nullptr);
		sigaddset(&mask, sig);
	}
	sigprocmask(SIG_UNBLOCK, &mask, nullptr);
}

void raise_nofile()
{
	rlimit rl{};
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

void print_version(const Tool& t)
{
	std::printf("%s (mergemem) %s\n", t.name.c_str(), MERGEMEM_VERSION);
}

} // namespace mmcli
