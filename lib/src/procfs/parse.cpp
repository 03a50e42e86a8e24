// SPDX-License-Identifier: GPL-2.0-or-later
// The one place that knows the text formats under /proc and /sys.
#include <cerrno>
#include <charconv>
#include <cstring>

#include "mergemem/procfs.hpp"

namespace mergemem::procfs {
namespace {

template <class T>
bool to_num(std::string_view s, T& out, int base = 10)
{
	if (s.empty())
		return false;
	auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
	return ec == std::errc() && p == s.data() + s.size();
}

std::string_view trim(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
		s.remove_suffix(1);
	return s;
}

// Split on runs of spaces.
std::vector<std::string_view> fields(std::string_view s)
{
	std::vector<std::string_view> out;
	size_t i = 0;
	while (i < s.size()) {
		while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
			++i;
		size_t j = i;
		while (j < s.size() && s[j] != ' ' && s[j] != '\t')
			++j;
		if (j > i)
			out.push_back(s.substr(i, j - i));
		i = j;
	}
	return out;
}

template <class F>
void for_each_line(std::string_view text, F&& f)
{
	size_t pos = 0, lineno = 0;
	while (pos < text.size()) {
		size_t nl = text.find('\n', pos);
		if (nl == std::string_view::npos)
			nl = text.size();
		++lineno;
		if (!f(text.substr(pos, nl - pos), lineno))
			return;
		pos = nl + 1;
	}
}

} // namespace

Result<Stat> parse_stat(std::string_view text)
{
	// comm may hold spaces and parentheses: it ends at the LAST ')'.
	size_t open = text.find('(');
	size_t close = text.rfind(')');
	if (open == std::string_view::npos || close == std::string_view::npos || close < open)
		return fail(EINVAL, "stat: no (comm) field");
	Stat st;
	if (!to_num(trim(text.substr(0, open)), st.pid))
		return fail(EINVAL, "stat: bad pid field");
	st.comm = std::string(text.substr(open + 1, close - open - 1));
	auto f = fields(trim(text.substr(close + 1)));
	// f[0] is field 3 (state); starttime is field 22 -> f[19].
	if (f.size() < 20)
		return fail(EINVAL, "stat: " + std::to_string(f.size() + 2) + " fields, expected at least 22");
	if (f[0].size() != 1)
		return fail(EINVAL, "stat: bad state field");
	st.state = f[0][0];
	if (!to_num(f[1], st.ppid) || !to_num(f[6], st.flags) || !to_num(f[11], st.utime) ||
	    !to_num(f[12], st.stime) || !to_num(f[19], st.starttime))
		return fail(EINVAL, "stat: malformed numeric field");
	return st;
}

Result<Status> parse_status(std::string_view text)
{
	Status s;
	bool have_uid = false, have_name = false;
	std::optional<Error> err;
	for_each_line(text, [&](std::string_view line, size_t lineno) {
		size_t colon = line.find(':');
		if (colon == std::string_view::npos)
			return true;
		std::string_view key = line.substr(0, colon);
		std::string_view val = line.substr(colon + 1);
		auto bad = [&] {
			err = Error{EINVAL, "status: line " + std::to_string(lineno) + ": malformed " + std::string(key)};
			return false;
		};
		if (key == "Name") {
			// Tab-separated; the name itself may contain spaces (escaped by the kernel).
			if (!val.empty() && val.front() == '\t')
				val.remove_prefix(1);
			s.name = std::string(val);
			have_name = true;
		} else if (key == "State") {
			val = trim(val);
			if (val.empty())
				return bad();
			s.state = val[0];
		} else if (key == "Tgid") {
			if (!to_num(trim(val), s.tgid))
				return bad();
		} else if (key == "TracerPid") {
			if (!to_num(trim(val), s.tracer_pid))
				return bad();
		} else if (key == "Uid" || key == "Gid") {
			auto f = fields(trim(val));
			if (f.size() < 4)
				return bad();
			unsigned v[4];
			for (int i = 0; i < 4; ++i)
				if (!to_num(f[i], v[i]))
					return bad();
			if (key == "Uid") {
				s.ruid = v[0], s.euid = v[1], s.suid = v[2], s.fsuid = v[3];
				have_uid = true;
			} else {
				s.rgid = v[0], s.egid = v[1];
			}
		} else if (key == "Seccomp") {
			if (!to_num(trim(val), s.seccomp))
				return bad();
		} else if (key == "Threads") {
			if (!to_num(trim(val), s.threads))
				return bad();
		} else if (key == "VmSize") {
			s.has_mm = true;
		} else if (key == "VmRSS") {
			auto f = fields(trim(val));
			if (f.empty() || !to_num(f[0], s.vm_rss_kb))
				return bad();
		}
		return true;
	});
	if (err)
		return std::unexpected(*err);
	if (!have_name || !have_uid)
		return fail(EINVAL, "status: missing Name or Uid line");
	return s;
}

uint64_t parse_vmflags(std::string_view codes)
{
	static constexpr struct {
		char c[3];
		uint64_t bit;
	} table[] = {
	    {"rd", VMF_RD}, {"wr", VMF_WR}, {"ex", VMF_EX}, {"sh", VMF_SH}, {"mr", VMF_MR}, {"mw", VMF_MW},
	    {"me", VMF_ME}, {"ms", VMF_MS}, {"gd", VMF_GD}, {"pf", VMF_PF}, {"lf", VMF_LF}, {"io", VMF_IO},
	    {"sr", VMF_SR}, {"rr", VMF_RR}, {"dc", VMF_DC}, {"de", VMF_DE}, {"ac", VMF_AC}, {"nr", VMF_NR},
	    {"ht", VMF_HT}, {"sf", VMF_SF}, {"ar", VMF_AR}, {"wf", VMF_WF}, {"dd", VMF_DD}, {"sd", VMF_SD},
	    {"mm", VMF_MM}, {"hg", VMF_HG}, {"nh", VMF_NH}, {"mg", VMF_MG}, {"um", VMF_UM}, {"uw", VMF_UW},
	    {"ss", VMF_SS}, {"sl", VMF_SL}, {"bt", VMF_BT}, {"mt", VMF_MT},
	};
	uint64_t out = 0;
	for (auto f : fields(trim(codes))) {
		bool known = false;
		for (auto& t : table)
			if (f == t.c) {
				out |= t.bit;
				known = true;
				break;
			}
		if (!known)
			out |= VMF_UNKNOWN;
	}
	return out;
}

namespace {

bool is_header(std::string_view line)
{
	// "start-end perms ..." where start is lower-case hex; smaps keys start upper-case.
	size_t dash = line.find('-');
	if (dash == 0 || dash == std::string_view::npos || dash > 16)
		return false;
	for (size_t i = 0; i < dash; ++i) {
		char c = line[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

// seq_file_path() escapes '\n' as "\012" (and only that, in maps).
std::string unescape_path(std::string_view p)
{
	std::string out;
	out.reserve(p.size());
	for (size_t i = 0; i < p.size(); ++i) {
		if (p[i] == '\\' && i + 3 < p.size() + 0 && p.substr(i + 1, 3) == "012") {
			out.push_back('\n');
			i += 3;
		} else {
			out.push_back(p[i]);
		}
	}
	return out;
}

} // namespace

Result<std::vector<Vma>> parse_maps(std::string_view text)
{
	std::vector<Vma> out;
	std::optional<Error> err;
	for_each_line(text, [&](std::string_view line, size_t lineno) {
		auto bad = [&](const char* what) {
			err = Error{EINVAL, "maps: line " + std::to_string(lineno) + ": " + what};
			return false;
		};
		if (line.empty())
			return true;
		if (!is_header(line)) {
			if (out.empty())
				return bad("expected an address range");
			if (line.starts_with("VmFlags:")) {
				out.back().vmflags = parse_vmflags(line.substr(8));
				out.back().has_vmflags = true;
			} else if (line.starts_with("Rss:")) {
				auto f = fields(trim(line.substr(4)));
				if (f.empty() || !to_num(f[0], out.back().rss_kb))
					return bad("malformed Rss");
			}
			return true;
		}
		// Five fixed fields, then the path after padding (the path may hold spaces).
		Vma v;
		std::string_view rest = line;
		std::string_view fld[5];
		for (auto& f : fld) {
			while (!rest.empty() && rest.front() == ' ')
				rest.remove_prefix(1);
			size_t sp = rest.find(' ');
			f = rest.substr(0, sp);
			rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
		}
		size_t dash = fld[0].find('-');
		if (dash == std::string_view::npos || !to_num(fld[0].substr(0, dash), v.start, 16) ||
		    !to_num(fld[0].substr(dash + 1), v.end, 16) || v.end < v.start)
			return bad("malformed address range");
		if (fld[1].size() != 4)
			return bad("malformed permissions");
		v.read = fld[1][0] == 'r';
		v.write = fld[1][1] == 'w';
		v.exec = fld[1][2] == 'x';
		v.shared = fld[1][3] == 's';
		if (!to_num(fld[2], v.offset, 16))
			return bad("malformed offset");
		size_t colon = fld[3].find(':');
		if (colon == std::string_view::npos || !to_num(fld[3].substr(0, colon), v.dev_major, 16) ||
		    !to_num(fld[3].substr(colon + 1), v.dev_minor, 16))
			return bad("malformed device");
		if (!to_num(fld[4], v.inode))
			return bad("malformed inode");
		while (!rest.empty() && rest.front() == ' ')
			rest.remove_prefix(1);
		constexpr std::string_view del = " (deleted)";
		if (rest.ends_with(del)) {
			v.deleted = true;
			rest.remove_suffix(del.size());
		}
		v.path = unescape_path(rest);
		out.push_back(std::move(v));
		return true;
	});
	if (err)
		return std::unexpected(*err);
	return out;
}

Result<KsmStat> parse_ksm_stat(std::string_view text)
{
	KsmStat k;
	std::optional<Error> err;
	bool any = false;
	for_each_line(text, [&](std::string_view line, size_t lineno) {
		auto f = fields(line);
		if (f.empty())
			return true;
		if (f.size() != 2) {
			err = Error{EINVAL, "ksm_stat: line " + std::to_string(lineno) + ": expected 'name value'"};
			return false;
		}
		auto num = [&](int64_t& dst) {
			if (!to_num(f[1], dst)) {
				err = Error{EINVAL, "ksm_stat: line " + std::to_string(lineno) + ": bad number"};
				return false;
			}
			any = true;
			return true;
		};
		auto yesno = [&](std::optional<bool>& dst) {
			if (f[1] != "yes" && f[1] != "no") {
				err = Error{EINVAL, "ksm_stat: line " + std::to_string(lineno) + ": expected yes or no"};
				return false;
			}
			dst = f[1] == "yes";
			return true;
		};
		if (f[0] == "ksm_rmap_items")
			return num(k.rmap_items);
		if (f[0] == "ksm_zero_pages")
			return num(k.zero_pages);
		if (f[0] == "ksm_merging_pages")
			return num(k.merging_pages);
		if (f[0] == "ksm_process_profit")
			return num(k.process_profit);
		if (f[0] == "ksm_merge_any:")
			return yesno(k.merge_any);
		if (f[0] == "ksm_mergeable:")
			return yesno(k.mergeable);
		return true; // newer kernels add fields: ignore them
	});
	if (err)
		return std::unexpected(*err);
	if (!any)
		return fail(EINVAL, "ksm_stat: no counters");
	return k;
}

Result<uint64_t> parse_vmstat_field(std::string_view text, std::string_view name)
{
	std::optional<Result<uint64_t>> found;
	for_each_line(text, [&](std::string_view line, size_t) {
		auto f = fields(line);
		if (f.size() == 2 && f[0] == name) {
			uint64_t v;
			found = to_num(f[1], v) ? Result<uint64_t>(v)
			                        : Result<uint64_t>(fail(EINVAL, "vmstat: bad value for " + std::string(name)));
			return false;
		}
		return true;
	});
	if (!found)
		return fail(ENOENT, "vmstat: no " + std::string(name));
	return *found;
}

Result<uint64_t> parse_u64(std::string_view text)
{
	if (!text.empty() && text.back() == '\n')
		text.remove_suffix(1);
	uint64_t v;
	if (!to_num(text, v))
		return fail(EINVAL, "expected an unsigned integer, got '" + std::string(text.substr(0, 32)) + "'");
	return v;
}

} // namespace mergemem::procfs
