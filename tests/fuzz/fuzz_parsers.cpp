// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer harnesses for every parser of outside input.  One binary per
// harness: MM_FUZZ_TARGET picks the parser (see tests/fuzz/run.sh).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mergemem/procfs.hpp"
#include "mergemem/select.hpp"
#include "mergemem/snapshot.hpp"

using namespace mergemem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	std::string_view in(reinterpret_cast<const char*>(data), size);
#if MM_FUZZ_TARGET == 1
	if (auto s = procfs::parse_stat(in))
		(void)s->comm.size();
#elif MM_FUZZ_TARGET == 2
	(void)procfs::parse_status(in);
#elif MM_FUZZ_TARGET == 3
	if (auto v = procfs::parse_maps(in))
		for (auto& m : *v)
			(void)m.pages(4096);
	(void)procfs::parse_vmflags(in);
#elif MM_FUZZ_TARGET == 4
	(void)procfs::parse_ksm_stat(in);
#elif MM_FUZZ_TARGET == 5
	(void)procfs::parse_u64(in);
#elif MM_FUZZ_TARGET == 6
	(void)parse_pid_list(in);
#elif MM_FUZZ_TARGET == 7
	// A decoded snapshot must encode back to a file that decodes the same.
	if (auto s = decode_snapshot(in)) {
		auto again = decode_snapshot(encode_snapshot(*s));
		if (!again || again->processes.size() != s->processes.size())
			__builtin_trap();
	}
#elif MM_FUZZ_TARGET == 8
	(void)procfs::parse_vmstat_field(in, "cow_ksm");
#else
#error "MM_FUZZ_TARGET"
#endif
	return 0;
}
