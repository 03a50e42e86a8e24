// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once
#include <memory>
#include <string>

#include "mergemem.h" // kmod/mergemem.h: the one uapi header, used verbatim
#include "mergemem/backend.hpp"

namespace mergemem {

// Opens the device and checks the handshake.  ENODEV: no module loaded.
[[nodiscard]] Result<std::unique_ptr<Backend>> open_kmod_backend(const std::string& path = "/dev/mergemem");

} // namespace mergemem
