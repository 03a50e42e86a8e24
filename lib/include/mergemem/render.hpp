// SPDX-License-Identifier: GPL-2.0-or-later
// One column table per report drives the human table, --json and
// --list-columns (in the manner of util-linux findmnt).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "mergemem/error.hpp"
#include "mergemem/report.hpp"

namespace mergemem {

struct Column {
	std::string_view name;     // as given to -o and used as the JSON key
	std::string_view header;   // table header
	std::string_view help;     // --list-columns
	bool pages = false;        // a page count: humanised as bytes in tables
	bool right = true;
};

// The per-process columns; the first ones are the default -o set.
[[nodiscard]] const std::vector<Column>& process_columns();
[[nodiscard]] const std::vector<Column>& default_process_columns();
// "pid,comm,anon" -> columns; EINVAL names an unknown column.
[[nodiscard]] Result<std::vector<Column>> parse_columns(std::string_view list);

struct RenderOptions {
	std::vector<Column> columns;
	bool raw_bytes = false;     // --bytes: plain byte counts
	bool headings = true;
	bool color = false;         // header lines in bold (the tool decides: a terminal, no NO_COLOR)
	std::string tool = "memdup";
	std::string backend = "procfs";
};

[[nodiscard]] std::string render_table(const Report& r, const RenderOptions& o);
// "12 processes, 1.9 GiB anonymous, 640 MiB duplicate, 410 MiB could be freed by merging"
[[nodiscard]] std::string summary_line(const Report& r);
// The "mergemem.memdup/1" document, pretty-printed with a trailing newline.
[[nodiscard]] std::string render_json(const Report& r, const RenderOptions& o);
// The node_exporter textfile-collector format (Prometheus text 0.0.4):
// mergemem_memdup_* gauges per process (labels pid, comm, user) and in
// total, each with HELP and TYPE lines.
[[nodiscard]] std::string render_prometheus(const Report& r);

// Prometheus text-format helpers shared by the tools' renderers.
namespace prom {
// A label value with \, " and newlines escaped.
[[nodiscard]] std::string label(std::string_view v);
// "# HELP name help\n# TYPE name gauge\n".
[[nodiscard]] std::string header(std::string_view name, std::string_view help);
} // namespace prom
[[nodiscard]] std::string list_columns();

} // namespace mergemem
