// SPDX-License-Identifier: GPL-2.0-or-later
#include "mergemem/fd.hpp"
#include "mergemem/procfs.hpp"

namespace mergemem::procfs {
namespace {

template <class T, class P>
Result<T> read_and_parse(const std::string& path, P parse)
{
	auto text = read_file(path);
	if (!text)
		return std::unexpected(Error{text.error().code, path});
	auto v = parse(*text);
	if (!v)
		return std::unexpected(Error{v.error().code, path + ": " + v.error().context});
	return v;
}

std::string pid_path(const Root& r, pid_t pid, const char* file)
{
	return r.proc + "/" + std::to_string(pid) + "/" + file;
}

} // namespace

Result<Stat> read_stat(const Root& r, pid_t pid)
{
	return read_and_parse<Stat>(pid_path(r, pid, "stat"), parse_stat);
}
Result<Status> read_status(const Root& r, pid_t pid)
{
	return read_and_parse<Status>(pid_path(r, pid, "status"), parse_status);
}
Result<std::vector<Vma>> read_smaps(const Root& r, pid_t pid)
{
	return read_and_parse<std::vector<Vma>>(pid_path(r, pid, "smaps"), parse_maps);
}
Result<KsmStat> read_ksm_stat(const Root& r, pid_t pid)
{
	return read_and_parse<KsmStat>(pid_path(r, pid, "ksm_stat"), parse_ksm_stat);
}
Result<uint64_t> read_vmstat_field(const Root& r, std::string_view name)
{
	auto text = read_file(r.proc + "/vmstat");
	if (!text)
		return std::unexpected(text.error());
	return parse_vmstat_field(*text, name);
}
Result<uint64_t> read_ksm_knob(const Root& r, std::string_view knob)
{
	return read_and_parse<uint64_t>(r.sys + "/kernel/mm/ksm/" + std::string(knob), parse_u64);
}

} // namespace mergemem::procfs
