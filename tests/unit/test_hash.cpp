// Hashing: every ISA build gives the same XXH3-128 as the reference.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mergemem/hash.hpp"

extern "C" {
void mm_hash_blocks_sse2(const void*, size_t, size_t, uint64_t*);
void mm_hash_blocks_avx2(const void*, size_t, size_t, uint64_t*);
void mm_hash_blocks_avx512(const void*, size_t, size_t, uint64_t*);
}

using namespace mergemem;

static std::vector<unsigned char> random_pages(size_t n, unsigned seed)
{
	std::mt19937_64 g(seed);
	std::vector<unsigned char> v(n * 4096);
	for (auto& b : v)
		b = static_cast<unsigned char>(g());
	return v;
}

TEST(Hash, MatchesReference)
{
	auto buf = random_pages(16, 1);
	std::vector<Hash128> h(16);
	hash_blocks(buf.data(), 4096, 16, h.data());
	for (size_t i = 0; i < 16; ++i) {
		XXH128_hash_t ref = XXH3_128bits(buf.data() + i * 4096, 4096);
		EXPECT_EQ(h[i].lo, ref.low64);
		EXPECT_EQ(h[i].hi, ref.high64);
	}
}

TEST(Hash, AllIsaLevelsAgree)
{
	auto buf = random_pages(8, 2);
	std::vector<uint64_t> a(16), b(16), c(16);
	mm_hash_blocks_sse2(buf.data(), 4096, 8, a.data());
	if (__builtin_cpu_supports("avx2")) {
		mm_hash_blocks_avx2(buf.data(), 4096, 8, b.data());
		EXPECT_EQ(a, b);
	}
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
		mm_hash_blocks_avx512(buf.data(), 4096, 8, c.data());
		EXPECT_EQ(a, c);
	}
	EXPECT_TRUE(std::string(hash_implementation()) == "sse2" || std::string(hash_implementation()) == "avx2" ||
	            std::string(hash_implementation()) == "avx512");
}

TEST(Hash, ZeroAndOneBitDifferences)
{
	std::vector<unsigned char> z(4096, 0);
	Hash128 hz;
	hash_blocks(z.data(), 4096, 1, &hz);
	EXPECT_EQ(hz, zero_hash(4096));
	z[4095] = 1;
	Hash128 h1;
	hash_blocks(z.data(), 4096, 1, &h1);
	EXPECT_NE(h1, hz);
	// Same content, same hash, wherever it sits.
	auto buf = random_pages(2, 3);
	std::copy(buf.begin(), buf.begin() + 4096, buf.begin() + 4096);
	Hash128 two[2];
	hash_blocks(buf.data(), 4096, 2, two);
	EXPECT_EQ(two[0], two[1]);
}
