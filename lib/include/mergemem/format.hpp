// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once
#include <cstdint>
#include <string>

namespace mergemem {

// "1.9 GiB", "640 MiB", "12 KiB", "512 B" (binary units, as in free -h).
[[nodiscard]] std::string human_bytes(uint64_t bytes);
// "0x7f12...": lower-case hexadecimal with prefix.
[[nodiscard]] std::string hex(uint64_t v);

} // namespace mergemem
