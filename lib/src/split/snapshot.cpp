// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mergemem/fd.hpp"
#include "mergemem/report.hpp"
#include "mergemem/snapshot.hpp"

namespace mergemem {
namespace {

constexpr char magic[8] = {'M', 'M', 'S', 'N', 'A', 'P', '\0', '\x1a'};
constexpr uint32_t header_size = 64;

struct Writer {
	std::string out;
	void u16(uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); }
	void u32(uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
	void u64(uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
	void str(const std::string& s)
	{
		size_t n = std::min<size_t>(s.size(), 0xffff);
		u16(uint16_t(n));
		out.append(s.data(), n);
	}
};

struct Reader {
	std::string_view in;
	size_t pos = 0;
	bool ok = true;
	bool need(size_t n)
	{
		if (pos + n > in.size())
			ok = false;
		return ok;
	}
	template <class T>
	T get()
	{
		T v{};
		if (need(sizeof v)) {
			std::memcpy(&v, in.data() + pos, sizeof v);
			pos += sizeof v;
		}
		return v;
	}
	std::string str()
	{
		uint16_t n = get<uint16_t>();
		if (!need(n))
			return {};
		std::string s(in.substr(pos, n));
		pos += n;
		return s;
	}
};

constexpr uint64_t vpn_bits = 48, pfn_bits = 44;

} // namespace

const SnapMapping* SnapProcess::mapping_of(uint64_t vpn, size_t page_size) const
{
	uint64_t addr = vpn * page_size;
	auto it = std::upper_bound(mappings.begin(), mappings.end(), addr,
	                           [](uint64_t a, const SnapMapping& m) { return a < m.start; });
	if (it == mappings.begin())
		return nullptr;
	--it;
	return addr < it->end ? &*it : nullptr;
}

Result<std::array<uint8_t, 16>> current_boot_id()
{
	auto t = read_file("/proc/sys/kernel/random/boot_id");
	if (!t)
		return std::unexpected(t.error());
	std::array<uint8_t, 16> id{};
	size_t k = 0;
	for (size_t i = 0; i + 1 < t->size() && k < 16;) {
		if ((*t)[i] == '-') {
			++i;
			continue;
		}
		id[k++] = uint8_t(std::stoi(t->substr(i, 2), nullptr, 16));
		i += 2;
	}
	if (k != 16)
		return fail(EINVAL, "malformed boot_id");
	return id;
}

std::string boot_id_string(const std::array<uint8_t, 16>& id)
{
	static const char* hexd = "0123456789abcdef";
	std::string s;
	for (size_t i = 0; i < 16; ++i) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s += '-';
		s += hexd[id[i] >> 4];
		s += hexd[id[i] & 15];
	}
	return s;
}

Snapshot make_snapshot(const ScanResult& scan, const std::vector<const Process*>& procs)
{
	Snapshot s;
	s.page_size = uint32_t(scan.page_size);
	s.time_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
	                         std::chrono::system_clock::now().time_since_epoch())
	                         .count());
	if (auto id = current_boot_id())
		s.boot_id = *id;
	s.pfn_visible = scan.pfn_visible;
	for (size_t pi = 0; pi < scan.processes.size(); ++pi) {
		const auto& ps = scan.processes[pi];
		if (ps.error)
			continue;
		SnapProcess sp;
		sp.pid = ps.pid;
		sp.uid = ps.uid;
		sp.starttime = ps.starttime;
		sp.comm = ps.comm;
		if (pi < procs.size()) {
			auto dir = ProcessDir::open(*procs[pi]);
			auto text = dir ? read_file_at(dir->get(), "ksm_stat") : Result<std::string>(std::unexpected(dir.error()));
			if (text)
				if (auto k = procfs::parse_ksm_stat(*text))
					sp.ksm_merging = k->merging_pages + k->zero_pages;
		}
		for (auto& m : ps.mappings)
			sp.mappings.push_back(SnapMapping{m.start, m.end, page_label(m, true)});
		for (auto& run : ps.runs) {
			for (uint64_t k = 0; k < run.npages; ++k) {
				const PageRecord& r = scan.records[run.first + k];
				if (!r.valid() || !r.anon())
					continue;
				SnapPage p;
				p.vpn = run.addr / scan.page_size + k;
				p.pfn = r.pfn();
				p.hash = r.hash.lo & ((1ull << 35) - 1);
				p.shared = !(r.meta & PageRecord::EXCLUSIVE);
				sp.pages.push_back(p);
			}
		}
		s.processes.push_back(std::move(sp));
	}
	return s;
}

std::string encode_snapshot(const Snapshot& s)
{
	Writer w;
	uint64_t total = 0;
	for (auto& p : s.processes)
		total += p.pages.size();
	w.out.append(magic, 8);
	w.u32(snapshot_version);
	w.u32(header_size);
	w.u32(s.page_size);
	w.u32(uint32_t(s.processes.size()));
	w.u64(s.time_ns);
	w.out.append(reinterpret_cast<const char*>(s.boot_id.data()), 16);
	w.u64(total);
	w.u64(s.pfn_visible ? 1 : 0); // flags; the rest reserved
	w.out.reserve(w.out.size() + total * 16 + s.processes.size() * 256 + 8);
	for (auto& p : s.processes) {
		w.u32(uint32_t(p.pid));
		w.u32(p.uid);
		w.u64(p.starttime);
		w.u64(uint64_t(p.ksm_merging));
		w.str(p.comm);
		w.u32(uint32_t(p.mappings.size()));
		for (auto& m : p.mappings) {
			w.u64(m.start);
			w.u64(m.end);
			w.str(m.label);
		}
		w.u64(p.pages.size());
		for (auto& pg : p.pages) {
			w.u64((pg.vpn & ((1ull << vpn_bits) - 1)) | (pg.hash & 0xffff) << vpn_bits);
			w.u64((pg.pfn & ((1ull << pfn_bits) - 1)) | ((pg.hash >> 16) & 0x7ffff) << pfn_bits |
			      uint64_t(pg.shared) << 63);
		}
	}
	w.u64(XXH3_64bits(w.out.data(), w.out.size()));
	return std::move(w.out);
}

Result<Snapshot> decode_snapshot(std::string_view in)
{
	if (in.size() < 8 || std::memcmp(in.data(), magic, 8) != 0)
		return fail(EINVAL, "not a mergemem snapshot (bad magic)");
	if (in.size() < header_size + 8)
		return fail(EINVAL, "truncated (" + std::to_string(in.size()) + " bytes, shorter than the header)");
	Reader r{in.substr(0, in.size() - 8)};
	r.pos = 8;
	uint32_t version = r.get<uint32_t>();
	if (version > snapshot_version)
		return fail(EINVAL, "format version " + std::to_string(version) + " is newer than this memsplit reads (" +
		                        std::to_string(snapshot_version) + ") — use a newer memsplit");
	if (version == 0)
		return fail(EINVAL, "format version 0 is not valid (corrupted)");
	uint64_t sum;
	std::memcpy(&sum, in.data() + in.size() - 8, 8);
	if (XXH3_64bits(in.data(), in.size() - 8) != sum)
		return fail(EINVAL, "corrupted or truncated (checksum mismatch)");
	Snapshot s;
	uint32_t hsize = r.get<uint32_t>();
	s.page_size = r.get<uint32_t>();
	uint32_t nproc = r.get<uint32_t>();
	s.time_ns = r.get<uint64_t>();
	if (r.need(16)) {
		std::memcpy(s.boot_id.data(), in.data() + r.pos, 16);
		r.pos += 16;
	}
	uint64_t total = r.get<uint64_t>();
	s.pfn_visible = r.get<uint64_t>() & 1;
	if (hsize != header_size || s.page_size < 4096 || (s.page_size & (s.page_size - 1)))
		return fail(EINVAL, "corrupted header");
	uint64_t seen = 0;
	for (uint32_t i = 0; i < nproc && r.ok; ++i) {
		SnapProcess p;
		p.pid = pid_t(r.get<uint32_t>());
		p.uid = r.get<uint32_t>();
		p.starttime = r.get<uint64_t>();
		p.ksm_merging = int64_t(r.get<uint64_t>());
		p.comm = r.str();
		uint32_t nm = r.get<uint32_t>();
		if (!r.need(size_t(nm) * 18))
			break;
		for (uint32_t k = 0; k < nm && r.ok; ++k) {
			SnapMapping m;
			m.start = r.get<uint64_t>();
			m.end = r.get<uint64_t>();
			m.label = r.str();
			p.mappings.push_back(std::move(m));
		}
		uint64_t np = r.get<uint64_t>();
		if (!r.need(np * 16) || np > total - seen)
			return fail(EINVAL, "truncated or corrupted (process " + std::to_string(i + 1) + ")");
		p.pages.resize(np);
		for (auto& pg : p.pages) {
			uint64_t a = r.get<uint64_t>(), b = r.get<uint64_t>();
			pg.vpn = a & ((1ull << vpn_bits) - 1);
			pg.pfn = b & ((1ull << pfn_bits) - 1);
			pg.hash = (a >> vpn_bits) | ((b >> pfn_bits) & 0x7ffff) << 16;
			pg.shared = b >> 63;
		}
		seen += np;
		s.processes.push_back(std::move(p));
	}
	if (!r.ok || s.processes.size() != nproc || seen != total)
		return fail(EINVAL, "truncated or corrupted (records end early)");
	return s;
}

Result<void> write_snapshot(const Snapshot& s, const std::string& path)
{
	std::string bytes = encode_snapshot(s);
	std::string tmp = path + ".tmp." + std::to_string(::getpid());
	UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (!fd)
		return fail(errno, "create " + tmp);
	size_t done = 0;
	while (done < bytes.size()) {
		ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			::unlink(tmp.c_str());
			return fail(e, "write " + tmp);
		}
		done += size_t(n);
	}
	if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
		int e = errno;
		::unlink(tmp.c_str());
		return fail(e, "write " + path);
	}
	return {};
}

Result<Snapshot> read_snapshot(const std::string& path)
{
	auto t = read_file(path);
	if (!t)
		return fail(t.error().code, path);
	auto s = decode_snapshot(*t);
	if (!s)
		return fail(s.error().code, path + ": " + s.error().context);
	return s;
}

} // namespace mergemem
