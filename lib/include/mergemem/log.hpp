// SPDX-License-Identifier: GPL-2.0-or-later
// Diagnostics go through a callback the tool installs; the library never
// writes to stdout or stderr itself.
#pragma once
#include <functional>
#include <string_view>

namespace mergemem {

enum class LogLevel { debug, info, warn };
using LogFn = std::function<void(LogLevel, std::string_view)>;

// Install the callback (thread-safe calls are serialised by the library).
// Passing an empty function silences the library.
void set_log(LogFn fn);
void log(LogLevel level, std::string_view msg);

} // namespace mergemem
