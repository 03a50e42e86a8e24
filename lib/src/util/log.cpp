// SPDX-License-Identifier: GPL-2.0-or-later
#include <mutex>

#include "mergemem/log.hpp"

namespace mergemem {
namespace {
std::mutex g_mu;
LogFn g_fn;
} // namespace

void set_log(LogFn fn)
{
	std::lock_guard lk(g_mu);
	g_fn = std::move(fn);
}

void log(LogLevel level, std::string_view msg)
{
	std::lock_guard lk(g_mu);
	if (g_fn)
		g_fn(level, msg);
}

} // namespace mergemem
