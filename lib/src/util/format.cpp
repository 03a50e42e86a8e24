// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstdio>

#include "mergemem/format.hpp"

namespace mergemem {

std::string human_bytes(uint64_t bytes)
{
	static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	if (bytes < 1024)
		return std::to_string(bytes) + " B";
	double v = double(bytes);
	int u = 0;
	while (v >= 1024.0 && u < 6) {
		v /= 1024.0;
		++u;
	}
	char buf[32];
	// One decimal below 10 units, none above: "1.9 GiB", "640 MiB".
	if (v < 9.95)
		std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
	else
		std::snprintf(buf, sizeof buf, "%.0f %s", v, units[u]);
	return buf;
}

std::string hex(uint64_t v)
{
	char buf[24];
	std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
	return buf;
}

} // namespace mergemem
