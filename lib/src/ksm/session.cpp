// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <thread>

#include "mergemem/fd.hpp"
#include "mergemem/ksm.hpp"
#include "mergemem/log.hpp"

namespace mergemem {

namespace {

std::string knob_path(const procfs::Root& r, const std::string& k)
{
	return r.sys + "/kernel/mm/ksm/" + k;
}

// advisor_mode reads "[none] scan-time": the selected word is in brackets.
std::string selected(std::string v)
{
	while (!v.empty() && (v.back() == '\n' || v.back() == ' '))
		v.pop_back();
	auto a = v.find('['), b = v.find(']');
	if (a != std::string::npos && b != std::string::npos && b > a)
		return v.substr(a + 1, b - a - 1);
	return v;
}

Result<std::string> read_knob(const procfs::Root& r, const std::string& k)
{
	auto t = read_file(knob_path(r, k));
	if (!t)
		return fail(t.error().code, knob_path(r, k));
	return selected(*t);
}

Result<void> write_knob(const procfs::Root& r, const std::string& k, const std::string& v)
{
	std::string p = knob_path(r, k);
	// O_TRUNC as the shell's ">" does: harmless on sysfs, needed on fixture trees.
	UniqueFd fd(::open(p.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
	if (!fd)
		return fail(errno, "open " + p);
	std::string line = v + "\n";
	for (int tries = 0;; ++tries) {
		ssize_t n = ::write(fd.get(), line.data(), line.size());
		if (n == ssize_t(line.size()))
			return {};
		// run=2 -> 0 can return EBUSY transiently while ksmd unmerges.
		if (n < 0 && (errno == EINTR || (errno == EBUSY && tries < 100))) {
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
			continue;
		}
		return fail(n < 0 ? errno : EIO, "write " + v + " to " + p);
	}
}

bool exists(const procfs::Root& r, const std::string& k)
{
	return ::access(knob_path(r, k).c_str(), F_OK) == 0;
}

// Restore order: the boost knobs, then advisor_mode (which owns
// pages_to_scan while on), then run.
const char* const restore_order[] = {"pages_to_scan", "sleep_millisecs", "smart_scan", "advisor_mode", "run"};

Result<void> write_all(const procfs::Root& r, const std::vector<std::pair<std::string, std::string>>& kv)
{
	Result<void> res;
	for (const char* k : restore_order)
		for (auto& [name, value] : kv)
			if (name == k)
				if (auto w = write_knob(r, name, value); !w && res)
					res = w;
	return res;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_state(const std::string& text)
{
	std::vector<std::pair<std::string, std::string>> kv;
	size_t pos = 0;
	while (pos < text.size()) {
		size_t nl = text.find('\n', pos);
		std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
		pos = nl == std::string::npos ? text.size() : nl + 1;
		if (line.empty())
			continue;
		auto sp = line.find(' ');
		if (sp == std::string::npos)
			return fail(EINVAL, "malformed line '" + line + "'");
		std::string k = line.substr(0, sp), v = line.substr(sp + 1);
		bool known = false;
		for (const char* rk : restore_order)
			known = known || k == rk;
		if (!known || v.empty() || v.size() > 32)
			return fail(EINVAL, "unexpected knob '" + k + "'");
		kv.emplace_back(k, v);
	}
	return kv;
}

} // namespace

struct KsmSession::State {
	KsmSessionOptions opt;
	UniqueFd lock;
	std::vector<std::pair<std::string, std::string>> saved;
	uint64_t sleep_ms = 0;
	bool active = false;
	bool recovered = false;
};

Result<KsmGlobal> read_ksm_global(const procfs::Root& r)
{
	KsmGlobal g;
	auto num = [&](const char* k, uint64_t& dst, bool required) -> Result<void> {
		auto v = procfs::read_ksm_knob(r, k);
		if (v)
			dst = *v;
		else if (required)
			return fail(v.error().code, knob_path(r, k));
		return {};
	};
	if (auto e = num("run", g.run, true); !e)
		return std::unexpected(e.error());
	for (auto [k, d] : {std::pair{"full_scans", &g.full_scans}, {"pages_shared", &g.pages_shared},
	                    {"pages_sharing", &g.pages_sharing}})
		if (auto e = num(k, *d, true); !e)
			return std::unexpected(e.error());
	(void)num("ksm_zero_pages", g.zero_pages, false);
	(void)num("use_zero_pages", g.use_zero_pages, false);
	return g;
}

double ksmd_cpu_seconds(const procfs::Root& r)
{
	// ksmd is a kernel thread named "ksmd"; find it once.
	static pid_t ksmd = 0;
	if (ksmd == 0) {
		for (pid_t pid = 2; pid < 4096 && ksmd == 0; ++pid) {
			auto st = procfs::read_stat(r, pid);
			if (st && st->comm == "ksmd" && st->kernel_thread())
				ksmd = pid;
		}
		if (ksmd == 0)
			return 0;
	}
	auto st = procfs::read_stat(r, ksmd);
	if (!st)
		return 0;
	return double(st->utime + st->stime) / double(::sysconf(_SC_CLK_TCK));
}

KsmSession::KsmSession(std::unique_ptr<State> s) : s_(std::move(s)) {}
KsmSession::KsmSession(KsmSession&&) noexcept = default;
KsmSession& KsmSession::operator=(KsmSession&&) noexcept = default;
KsmSession::~KsmSession()
{
	if (s_)
		(void)restore();
}

Result<KsmSession> KsmSession::start(const KsmSessionOptions& o)
{
	if (!exists(o.root, "run"))
		return fail(ENOENT, "KSM is not available in this kernel (no " + knob_path(o.root, "run") + ")");
	auto s = std::make_unique<State>();
	s->opt = o;

	// The lock: one session at a time owns the saved settings.
	std::string dir = o.lock_path.substr(0, o.lock_path.rfind('/'));
	::mkdir(dir.c_str(), 0755);
	s->lock.reset(::open(o.lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
	if (!s->lock)
		return fail(errno, "open " + o.lock_path + " (KSM settings need root)");
	auto deadline = std::chrono::steady_clock::now() + o.lock_timeout;
	while (::flock(s->lock.get(), LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return fail(errno, "flock " + o.lock_path);
		if (o.stop && o.stop->load())
			return fail(ECANCELED, "interrupted while waiting for " + o.lock_path);
		if (std::chrono::steady_clock::now() > deadline) {
			char holder[32] = {};
			(void)!::pread(s->lock.get(), holder, sizeof holder - 1, 0);
			std::string h = holder;
			while (!h.empty() && h.back() == '\n')
				h.pop_back();
			return fail(EBUSY, "another merge session" + (h.empty() ? std::string() : " (pid " + h + ")") +
			                       " holds " + o.lock_path);
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	std::string me = std::to_string(::getpid()) + "\n";
	(void)!::ftruncate(s->lock.get(), 0);
	(void)!::pwrite(s->lock.get(), me.data(), me.size(), 0);

	// A state file left behind means a session died before restoring.
	if (auto left = read_file(o.state_path)) {
		auto kv = parse_state(*left);
		if (!kv)
			log(LogLevel::warn, o.state_path + ": " + kv.error().context + " — ignored");
		else if (auto w = write_all(o.root, *kv); !w)
			return fail(w.error().code, "repairing the settings a previous session left: " + w.error().context);
		else {
			s->recovered = true;
			log(LogLevel::warn, "restored the KSM settings a previous session left changed (" + o.state_path + ")");
		}
		::unlink(o.state_path.c_str());
	}

	for (std::string k : {"run", "pages_to_scan", "sleep_millisecs", "smart_scan", "advisor_mode"}) {
		if (!exists(o.root, k))
			continue;
		auto v = read_knob(o.root, k);
		if (!v)
			return std::unexpected(v.error());
		s->saved.emplace_back(k, *v);
	}
	// Record before changing anything, durably.
	{
		std::string text;
		for (auto& [k, v] : s->saved)
			text += k + " " + v + "\n";
		std::string tmp = o.state_path + ".tmp";
		UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
		if (!fd || ::write(fd.get(), text.data(), text.size()) != ssize_t(text.size()) || ::fsync(fd.get()) != 0 ||
		    ::rename(tmp.c_str(), o.state_path.c_str()) != 0)
			return fail(errno ? errno : EIO, "write " + o.state_path);
	}
	s->active = true;
	KsmSession sess(std::move(s));
	State& S = *sess.s_;
	auto set = [&](const char* k, const std::string& v) -> Result<void> {
		if (!exists(o.root, k))
			return {};
		return write_knob(o.root, k, v);
	};
	Result<void> r;
	if (r = set("advisor_mode", "none"); !r)
		return std::unexpected(r.error());
	if (r = set("pages_to_scan", std::to_string(o.pages_to_scan)); !r)
		return std::unexpected(r.error());
	if (r = set("sleep_millisecs", std::to_string(o.sleep_millisecs)); !r)
		return std::unexpected(r.error());
	// smart_scan skips pages that failed to merge before: late duplicates
	// can then stay unmerged indefinitely (0 of 6554 in 150 s, measured).
	if (r = set("smart_scan", "0"); !r)
		return std::unexpected(r.error());
	if (r = set("run", "1"); !r)
		return std::unexpected(r.error());
	S.sleep_ms = o.sleep_millisecs;
	return sess;
}

Result<void> KsmSession::set_sleep(uint64_t ms)
{
	auto r = write_knob(s_->opt.root, "sleep_millisecs", std::to_string(ms));
	if (r)
		s_->sleep_ms = ms;
	return r;
}

uint64_t KsmSession::sleep_millisecs() const { return s_->sleep_ms; }
const std::vector<std::pair<std::string, std::string>>& KsmSession::saved() const { return s_->saved; }
bool KsmSession::recovered() const { return s_->recovered; }

Result<void> KsmSession::restore()
{
	if (!s_ || !s_->active)
		return {};
	auto kv = s_->saved;
	if (s_->opt.keep_running)
		for (auto& [k, v] : kv)
			if (k == "run")
				v = "1";
	auto r = write_all(s_->opt.root, kv);
	if (r)
		::unlink(s_->opt.state_path.c_str());
	s_->active = false;
	s_->lock.reset(); // releases the flock
	return r;
}

} // namespace mergemem
