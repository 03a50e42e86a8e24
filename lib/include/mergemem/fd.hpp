// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once
#include <string>
#include <utility>

#include "mergemem/error.hpp"

namespace mergemem {

// A file descriptor owned by exactly one object.
class UniqueFd {
public:
	UniqueFd() = default;
	explicit UniqueFd(int fd) : fd_(fd) {}
	UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
	UniqueFd& operator=(UniqueFd&& o) noexcept
	{
		if (this != &o) {
			reset();
			fd_ = std::exchange(o.fd_, -1);
		}
		return *this;
	}
	UniqueFd(const UniqueFd&) = delete;
	UniqueFd& operator=(const UniqueFd&) = delete;
	~UniqueFd() { reset(); }

	[[nodiscard]] int get() const { return fd_; }
	[[nodiscard]] bool valid() const { return fd_ >= 0; }
	explicit operator bool() const { return valid(); }
	void reset(int fd = -1);
	[[nodiscard]] int release() { return std::exchange(fd_, -1); }

private:
	int fd_ = -1;
};

// Read a whole (proc or sys) file relative to dirfd.  Returns ENOENT,
// EACCES, ESRCH etc. as the kernel reports them.
[[nodiscard]] Result<std::string> read_file_at(int dirfd, const std::string& name);
[[nodiscard]] Result<std::string> read_file(const std::string& path);

// pread() until `len` bytes or EOF; returns bytes read (short only at EOF).
[[nodiscard]] Result<size_t> pread_full(int fd, void* buf, size_t len, off_t off);

} // namespace mergemem
