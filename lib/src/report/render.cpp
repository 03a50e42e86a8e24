// SPDX-License-Identifier: GPL-2.0-or-later
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "mergemem/format.hpp"
#include "mergemem/render.hpp"

#ifndef MERGEMEM_VERSION
#define MERGEMEM_VERSION "0"
#endif

namespace mergemem {
namespace {

using json = nlohmann::ordered_json;

const std::vector<Column> g_process_columns = {
    {"pid", "PID", "process id", false, true},
    {"user", "USER", "effective user of the process", false, false},
    {"comm", "COMM", "command name", false, false},
    {"anon_pages", "ANON", "resident anonymous memory", true, true},
    {"duplicate_pages", "DUP", "anonymous memory whose content is on another anonymous page", true, true},
    {"savings_pages", "SAVINGS", "memory a merge would free (see man memdup: attribution)", true, true},
    {"zero_pages", "ZERO", "anonymous pages that are all zero", true, true},
    {"shared_pages", "SHARED", "anonymous pages already on a frame another scanned page maps (needs root)", true, true},
    {"uid", "UID", "effective user id", false, true},
    {"present_pages", "PRESENT", "resident memory scanned, file pages included", true, true},
    {"anon_frames", "FRAMES", "distinct frames behind the anonymous pages", true, true},
    {"unmergeable_pages", "UNMERGEABLE", "duplicates KSM could never merge", true, true},
};
const std::vector<Column> g_default(g_process_columns.begin(), g_process_columns.begin() + 8);

uint64_t count_of(const Counts& c, std::string_view name)
{
	if (name == "present_pages") return c.present_pages;
	if (name == "anon_pages") return c.anon_pages;
	if (name == "anon_frames") return c.anon_frames;
	if (name == "duplicate_pages") return c.duplicate_pages;
	if (name == "savings_pages") return c.savings_pages;
	if (name == "zero_pages") return c.zero_pages;
	if (name == "shared_pages") return c.shared_pages;
	if (name == "unmergeable_pages") return c.unmergeable_pages;
	return 0;
}

constexpr const char* count_names[] = {"present_pages", "anon_pages", "anon_frames", "duplicate_pages",
                                       "savings_pages", "zero_pages", "shared_pages", "unmergeable_pages"};

void put_counts(json& j, const Counts& c)
{
	for (auto n : count_names)
		j[n] = count_of(c, n);
}

std::string cell(uint64_t pages, const RenderOptions& o, size_t psz)
{
	return o.raw_bytes ? std::to_string(pages * psz) : human_bytes(pages * psz);
}

std::string render_grid(const std::vector<std::string>& headers, const std::vector<bool>& right,
                        const std::vector<std::vector<std::string>>& rows, bool headings, bool bold = false)
{
	std::vector<size_t> w(headers.size(), 0);
	if (headings)
		for (size_t i = 0; i < headers.size(); ++i)
			w[i] = headers[i].size();
	for (auto& r : rows)
		for (size_t i = 0; i < r.size(); ++i)
			w[i] = std::max(w[i], r[i].size());
	std::string out;
	auto line = [&](const std::vector<std::string>& r) {
		std::string l;
		for (size_t i = 0; i < r.size(); ++i) {
			bool last = i + 1 == r.size();
			std::string pad(w[i] - std::min(w[i], r[i].size()), ' ');
			if (right[i])
				l += pad + r[i];
			else
				l += r[i] + (last ? "" : pad);
			if (!last)
				l += ' ';
		}
		while (!l.empty() && l.back() == ' ')
			l.pop_back();
		out += l + '\n';
	};
	if (headings) {
		line(headers);
		if (bold) {
			out.insert(out.size() - 1, "\033[0m");
			out.insert(0, "\033[1m");
		}
	}
	for (auto& r : rows)
		line(r);
	return out;
}

// Control characters in comm or paths must not reach a terminal raw.
std::string printable(std::string_view s)
{
	std::string o;
	for (unsigned char c : s) {
		if (c < 0x20 || c == 0x7f) {
			char b[8];
			std::snprintf(b, sizeof b, "\\x%02x", c);
			o += b;
		} else
			o += char(c);
	}
	return o;
}

std::string hash_hex(const Hash128& h)
{
	char b[40];
	std::snprintf(b, sizeof b, "%016llx%016llx", (unsigned long long)h.hi, (unsigned long long)h.lo);
	return b;
}

} // namespace

const std::vector<Column>& process_columns() { return g_process_columns; }
const std::vector<Column>& default_process_columns() { return g_default; }

Result<std::vector<Column>> parse_columns(std::string_view list)
{
	bool append = !list.empty() && list.front() == '+';
	if (append)
		list.remove_prefix(1);
	std::vector<Column> out = append ? g_default : std::vector<Column>{};
	size_t i = 0;
	while (i <= list.size()) {
		size_t j = list.find(',', i);
		if (j == std::string_view::npos)
			j = list.size();
		std::string name(list.substr(i, j - i));
		std::string lower = name;
		std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
		auto it = std::find_if(g_process_columns.begin(), g_process_columns.end(), [&](const Column& c) {
			std::string h(c.header);
			std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::tolower(ch); });
			return c.name == lower || h == lower;
		});
		if (it == g_process_columns.end())
			return fail(EINVAL, "unknown column '" + name + "' (see --list-columns)");
		out.push_back(*it);
		i = j + 1;
	}
	return out;
}

std::string list_columns()
{
	std::string out;
	for (auto& c : g_process_columns) {
		char b[256];
		std::snprintf(b, sizeof b, "%-18s %-12s %s\n", std::string(c.name).c_str(), std::string(c.header).c_str(),
		              std::string(c.help).c_str());
		out += b;
	}
	return out;
}

std::string summary_line(const Report& r)
{
	const size_t p = r.page_size;
	std::string s = std::to_string(r.processes) + (r.processes == 1 ? " process, " : " processes, ") +
	                human_bytes(r.summary.anon_pages * p) + " anonymous, " +
	                human_bytes(r.summary.duplicate_pages * p) + " duplicate, " +
	                human_bytes(r.summary.savings_pages * p) + " could be freed by merging";
	if (!r.pfn_visible)
		s += " (content-only estimate: frame numbers need root)";
	if (r.lost_pages)
		s += "; " + std::to_string(r.lost_pages) + (r.lost_pages == 1 ? " page" : " pages") +
		     " vanished during the scan (unmapped or swapped out) and are not counted";
	return s;
}

std::string render_table(const Report& r, const RenderOptions& o)
{
	const size_t psz = r.page_size;
	std::string out;
	if (!r.per_mapping.empty()) {
		std::vector<std::vector<std::string>> rows;
		for (auto& m : r.per_mapping)
			rows.push_back({printable(m.mapping), std::to_string(m.processes), cell(m.counts.anon_pages, o, psz),
			                cell(m.counts.duplicate_pages, o, psz), cell(m.counts.savings_pages, o, psz),
			                cell(m.counts.zero_pages, o, psz), cell(m.counts.present_pages - m.counts.anon_pages, o, psz)});
		out += render_grid({"MAPPING", "PROCS", "ANON", "DUP", "SAVINGS", "ZERO", "FILE"},
		                   {false, true, true, true, true, true, true}, rows, o.headings, o.color);
	} else {
		std::vector<const ProcessRow*> sorted;
		for (auto& p : r.per_process)
			sorted.push_back(&p);
		// Biggest win first, as smem and top order by size.
		std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
			return a->counts.savings_pages > b->counts.savings_pages;
		});
		std::vector<std::vector<std::string>> rows;
		std::vector<std::string> headers;
		std::vector<bool> right;
		for (auto& c : o.columns) {
			headers.emplace_back(c.header);
			right.push_back(c.right);
		}
		for (auto* p : sorted) {
			std::vector<std::string> row;
			for (auto& c : o.columns) {
				if (c.name == "pid") row.push_back(std::to_string(p->pid));
				else if (c.name == "uid") row.push_back(std::to_string(p->uid));
				else if (c.name == "user") row.push_back(printable(p->user));
				else if (c.name == "comm") row.push_back(printable(p->comm));
				else row.push_back(cell(count_of(p->counts, c.name), o, psz));
			}
			rows.push_back(std::move(row));
		}
		out += render_grid(headers, right, rows, o.headings, o.color);
	}
	if (!r.top.empty()) {
		out += '\n';
		std::vector<std::vector<std::string>> rows;
		for (auto& t : r.top) {
			std::string ex;
			for (auto& e : t.examples)
				ex += (ex.empty() ? "" : ", ") + std::to_string(e.pid) + ":" + hex(e.addr) + " " + printable(e.mapping);
			rows.push_back({hash_hex(t.hash).substr(0, 16) + (t.zero ? " (zero)" : ""), std::to_string(t.copies),
			                std::to_string(t.frames), std::to_string(t.processes), cell(t.savings, o, psz), ex});
		}
		out += render_grid({"CONTENT", "COPIES", "FRAMES", "PROCS", "SAVINGS", "EXAMPLES"},
		                   {false, true, true, true, true, false}, rows, o.headings, o.color);
	}
	return out;
}

std::string render_json(const Report& r, const RenderOptions& o)
{
	json j;
	j["schema"] = "mergemem." + o.tool + "/1";
	j["version"] = MERGEMEM_VERSION;
	j["page_size"] = r.page_size;
	j["backend"] = o.backend;
	j["pfn_visible"] = r.pfn_visible;
	j["estimate"] = r.pfn_visible ? "exact" : "content-only";
	j["pagemap_scan"] = r.pagemap_scan;
	j["hash"] = "xxh3-128/" + r.hash_impl;
	json s;
	s["processes"] = r.processes;
	s["processes_failed"] = r.processes_failed;
	s["processes_skipped"] = r.processes_skipped;
	put_counts(s, r.summary);
	s["unreadable_pages"] = r.unreadable_pages;
	s["lost_pages"] = r.lost_pages;
	s["pfn_visible"] = r.pfn_visible;
	j["summary"] = s;
	json u = json::object();
	for (size_t i = 1; i < r.unmergeable.size(); ++i)
		u[std::string(to_string(Unmergeable(i)))] = r.unmergeable[i];
	j["unmergeable"] = u;
	json procs = json::array();
	for (auto& p : r.per_process) {
		json row;
		row["pid"] = p.pid;
		row["comm"] = p.comm;
		row["uid"] = p.uid;
		row["user"] = p.user;
		put_counts(row, p.counts);
		procs.push_back(row);
	}
	j["processes"] = procs;
	if (!r.per_mapping.empty()) {
		json maps = json::array();
		for (auto& m : r.per_mapping) {
			json row;
			row["mapping"] = m.mapping;
			row["processes"] = m.processes;
			put_counts(row, m.counts);
			maps.push_back(row);
		}
		j["mappings"] = maps;
	}
	if (!r.top.empty()) {
		json top = json::array();
		for (auto& t : r.top) {
			json row;
			row["content"] = hash_hex(t.hash);
			row["zero"] = t.zero;
			row["copies"] = t.copies;
			row["frames"] = t.frames;
			row["processes"] = t.processes;
			row["savings_pages"] = t.savings;
			json ex = json::array();
			for (auto& e : t.examples)
				ex.push_back({{"pid", e.pid}, {"address", hex(e.addr)}, {"mapping", e.mapping}});
			row["examples"] = ex;
			top.push_back(row);
		}
		j["top"] = top;
	}
	json failed = json::array();
	for (auto& f : r.failed)
		failed.push_back({{"pid", f.pid}, {"comm", f.comm}, {"reason", f.reason}, {"message", f.message}});
	j["failed"] = failed;
	// Invalid UTF-8 in comm or paths is replaced, never a throw.
	return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace mergemem
