// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdlib>
#include <mutex>
#include <vector>

#include "mergemem/hash.hpp"

extern "C" {
void mm_hash_blocks_sse2(const void*, size_t, size_t, uint64_t*);
void mm_hash_blocks_avx2(const void*, size_t, size_t, uint64_t*);
void mm_hash_blocks_avx512(const void*, size_t, size_t, uint64_t*);
}

namespace mergemem {
namespace {

using Fn = void (*)(const void*, size_t, size_t, uint64_t*);

struct Impl {
	Fn fn;
	const char* name;
};

Impl pick()
{
	// MERGEMEM_HASH=sse2|avx2|avx512 forces a level (tests and bench), but
	// never one the CPU lacks.
	__builtin_cpu_init();
	const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
	const bool avx2 = __builtin_cpu_supports("avx2");
	std::string_view want = std::getenv("MERGEMEM_HASH") ? std::getenv("MERGEMEM_HASH") : "";
	if (want == "sse2")
		return {mm_hash_blocks_sse2, "sse2"};
	if (want == "avx2" && avx2)
		return {mm_hash_blocks_avx2, "avx2"};
	if (avx512)
		return {mm_hash_blocks_avx512, "avx512"};
	if (avx2)
		return {mm_hash_blocks_avx2, "avx2"};
	return {mm_hash_blocks_sse2, "sse2"};
}

const Impl& impl()
{
	static const Impl i = pick();
	return i;
}

} // namespace

static_assert(sizeof(Hash128) == 16);

void hash_blocks(const void* data, size_t block, size_t count, Hash128* out)
{
	impl().fn(data, block, count, reinterpret_cast<uint64_t*>(out));
}

const char* hash_implementation()
{
	return impl().name;
}

Hash128 zero_hash(size_t block)
{
	static std::once_flag once;
	static Hash128 h4k;
	std::call_once(once, [] {
		std::vector<unsigned char> z(4096, 0);
		hash_blocks(z.data(), z.size(), 1, &h4k);
	});
	if (block == 4096)
		return h4k;
	std::vector<unsigned char> z(block, 0);
	Hash128 h;
	hash_blocks(z.data(), block, 1, &h);
	return h;
}

} // namespace mergemem
