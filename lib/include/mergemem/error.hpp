// SPDX-License-Identifier: GPL-2.0-or-later
// Errors: the library never prints or exits; every fallible call returns a
// Result<T> whose error carries errno plus the object it concerns.
#pragma once
#include <expected>
#include <string>

namespace mergemem {

struct Error {
	int code = 0;            // errno value (or EINVAL for malformed input)
	std::string context;     // the object and what we tried, e.g. "pid 42: open pagemap"

	// "context: strerror(code)", or just the context when code is 0.
	[[nodiscard]] std::string message() const;
};

template <class T>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> fail(int code, std::string context)
{
	return std::unexpected<Error>(Error{code, std::move(context)});
}

} // namespace mergemem
