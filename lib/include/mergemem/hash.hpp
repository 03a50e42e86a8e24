// SPDX-License-Identifier: GPL-2.0-or-later
// Page hashing with XXH3-128.  The implementation is compiled for SSE2,
// AVX2 and AVX-512 and chosen once at start-up, so shipped binaries run on
// any x86-64 and still use the widest vectors the CPU has.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mergemem {

struct Hash128 {
	uint64_t lo = 0, hi = 0;
	friend bool operator==(const Hash128&, const Hash128&) = default;
	friend auto operator<=>(const Hash128&, const Hash128&) = default;
};

// Hash `count` consecutive blocks of `block` bytes each.
void hash_blocks(const void* data, size_t block, size_t count, Hash128* out);
// "avx512", "avx2" or "sse2".
[[nodiscard]] const char* hash_implementation();
// The hash of a zero-filled block of `block` bytes (cached for the page size).
[[nodiscard]] Hash128 zero_hash(size_t block);

} // namespace mergemem
