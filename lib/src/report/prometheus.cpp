// SPDX-License-Identifier: GPL-2.0-or-later
// Reports in the Prometheus text format, for node_exporter's textfile
// collector (memdup --format prometheus > /var/lib/node_exporter/memdup.prom).
// memdup and memsplit use their own name prefixes so that one collector
// directory can hold both files without a clash.
#include <cstdio>

#include "mergemem/render.hpp"
#include "mergemem/split.hpp"

namespace mergemem {

namespace prom {

std::string label(std::string_view v)
{
	std::string out;
	for (char c : v) {
		if (c == '\\' || c == '"')
			out += '\\', out += c;
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

std::string header(std::string_view name, std::string_view help)
{
	std::string h;
	h.append("# HELP ").append(name).append(" ").append(help).append("\n");
	h.append("# TYPE ").append(name).append(" gauge\n");
	return h;
}

} // namespace prom

namespace {

std::string sample(std::string_view name, std::string_view labels, uint64_t v)
{
	std::string s(name);
	if (!labels.empty())
		s.append("{").append(labels).append("}");
	return s + " " + std::to_string(v) + "\n";
}

std::string labels(pid_t pid, const std::string& comm, const std::string& user)
{
	return "pid=\"" + std::to_string(pid) + "\",comm=\"" + prom::label(comm) + "\",user=\"" + prom::label(user) + "\"";
}

} // namespace

std::string render_prometheus(const Report& r)
{
	const size_t p = r.page_size;
	struct Metric {
		const char* name;
		const char* help;
		uint64_t Counts::*field;
	};
	static const Metric metrics[] = {
	    {"anon_bytes", "Resident anonymous memory scanned, in bytes.", &Counts::anon_pages},
	    {"duplicate_bytes", "Anonymous memory whose content is also on another page, in bytes.", &Counts::duplicate_pages},
	    {"savings_bytes", "Memory that merging the duplicates would free, in bytes.", &Counts::savings_pages},
	    {"merged_bytes", "Anonymous memory already on a frame another scanned page maps (merged or shared), in bytes.",
	     &Counts::shared_pages},
	};
	std::string out;
	out += prom::header("mergemem_memdup_processes", "Processes scanned.");
	out += sample("mergemem_memdup_processes", "", r.processes);
	out += prom::header("mergemem_memdup_processes_failed", "Processes that could not be read (gone or not permitted).");
	out += sample("mergemem_memdup_processes_failed", "", r.processes_failed);
	out += prom::header("mergemem_memdup_exact",
	                    "1 when frame numbers were visible (savings exact), 0 for a content-only estimate.");
	out += sample("mergemem_memdup_exact", "", r.pfn_visible ? 1 : 0);
	for (auto& m : metrics) {
		std::string total = std::string("mergemem_memdup_") + m.name;
		out += prom::header(total, m.help);
		out += sample(total, "", r.summary.*m.field * p);
		std::string per = std::string("mergemem_memdup_process_") + m.name;
		out += prom::header(per, std::string(m.help) + " Per process.");
		for (auto& row : r.per_process)
			out += sample(per, labels(row.pid, row.comm, row.user), row.counts.*m.field * p);
	}
	return out;
}

std::string render_split_prometheus(const SplitReport& r)
{
	const size_t p = r.page_size;
	std::string out;
	out += prom::header("mergemem_memsplit_snapshot_age_seconds", "Seconds since the snapshot was taken.");
	char age[64];
	std::snprintf(age, sizeof age, "mergemem_memsplit_snapshot_age_seconds %.3f\n", r.seconds);
	out += age;
	out += prom::header("mergemem_memsplit_processes", "Processes of the snapshot still running.");
	out += sample("mergemem_memsplit_processes", "", r.rows.size());
	out += prom::header("mergemem_memsplit_processes_gone", "Processes of the snapshot that exited (or whose pid was reused).");
	out += sample("mergemem_memsplit_processes_gone", "", r.gone.size());
	out += prom::header("mergemem_memsplit_exact", "1 when frame numbers were visible (breaks counted), 0 otherwise.");
	out += sample("mergemem_memsplit_exact", "", r.pfn_visible ? 1 : 0);
	struct Metric {
		const char* name;
		const char* help;
		uint64_t SplitRow::*field;
		uint64_t total;
	};
	const Metric metrics[] = {
	    {"merged_bytes", "Memory on merged frames at the snapshot, in bytes.", &SplitRow::merged_then, r.merged_then},
	    {"cow_broken_bytes", "Of that, memory a copy-on-write has split off since, in bytes.", &SplitRow::broken, r.broken},
	};
	for (auto& m : metrics) {
		std::string total = std::string("mergemem_memsplit_") + m.name;
		out += prom::header(total, m.help);
		out += sample(total, "", m.total * p);
		std::string per = std::string("mergemem_memsplit_process_") + m.name;
		out += prom::header(per, std::string(m.help) + " Per process.");
		for (auto& row : r.rows)
			out += sample(per, labels(row.pid, row.comm, row.user), row.*m.field * p);
	}
	return out;
}

} // namespace mergemem
