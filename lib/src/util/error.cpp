// SPDX-License-Identifier: GPL-2.0-or-later
#include <cstring>

#include "mergemem/error.hpp"

namespace mergemem {

std::string Error::message() const
{
	if (code == 0)
		return context;
	return context + ": " + std::strerror(code);
}

} // namespace mergemem
